import { Text } from "ink";
import { cell } from "../format.ts";
import { useStatusColor } from "../theme.ts";

/** Props of {@link StatusText}. */
export interface StatusTextProps {
  status: string;
  /** Pad or cut to this width. */
  width?: number;
}

/** An action's status in its colour. */
export function StatusText({ status, width }: StatusTextProps) {
  const color = useStatusColor();
  return <Text color={color(status)}>{width === undefined ? status : cell(status, width)}</Text>;
}
