import { Text } from "ink";
import { useColor } from "../theme.ts";

const LEVELS = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/**
 * Values as a line of block characters, scaled to the largest; zero is a blank, so an idle
 * stretch reads as empty. Only the last `width` values are drawn.
 */
export function sparkText(values: readonly number[], width: number): string {
  const shown = values.slice(-width);
  const max = Math.max(0, ...shown);
  const level = (v: number) => Math.max(0, Math.min(LEVELS.length - 1, Math.ceil((v / max) * LEVELS.length) - 1));
  const line = shown.map((v) => (v <= 0 || max === 0 ? " " : LEVELS[level(v)]!));
  return line.join("").padStart(Math.max(width, 0));
}

/** Props of {@link Sparkline}. */
export interface SparklineProps {
  values: readonly number[];
  width: number;
}

/** A sparkline of rows per second (or any series), oldest on the left. */
export function Sparkline({ values, width }: SparklineProps) {
  const color = useColor();
  return <Text color={color("cyan")}>{sparkText(values, width)}</Text>;
}
