import { Text } from "ink";
import { useColor } from "../theme.ts";

const PARTIAL = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/** The bar as text: full blocks, one partial block in eighths, then dots for what is left. */
export function barText(share: number | null, width: number): string {
  if (width <= 0) return "";
  if (share === null) return "·".repeat(width);
  const eighths = Math.round(Math.min(1, Math.max(0, share)) * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = PARTIAL[eighths % 8]!;
  return `${"█".repeat(full)}${partial}${"·".repeat(width - full - (partial ? 1 : 0))}`;
}

/** Props of {@link ProgressBar}. */
export interface ProgressBarProps {
  /** 0 to 1; null when not known yet (drawn empty). */
  share: number | null;
  /** Characters the bar takes, the percentage not included. */
  width: number;
  /** Show the percentage after the bar. @default true */
  percent?: boolean;
}

/** A progress bar in eighths of a character, with its percentage. */
export function ProgressBar({ share, width, percent = true }: ProgressBarProps) {
  const color = useColor();
  const label = share === null ? "  -%" : `${String(Math.floor(Math.min(1, share) * 100)).padStart(3)}%`;
  return (
    <Text>
      <Text color={color("green")}>{barText(share, width)}</Text>
      {percent ? ` ${label}` : ""}
    </Text>
  );
}
