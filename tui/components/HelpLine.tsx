import { Text } from "ink";
import { useColor } from "../theme.ts";

/** What the keys are doing now: browsing, typing a filter, or confirming a cancel. */
export type InputMode = { kind: "browse"; view: "list" | "detail" } | { kind: "filter"; text: string } | { kind: "confirm"; actionId: number };

/** Props of {@link HelpLine}. */
export interface HelpLineProps {
  mode: InputMode;
  /** False when stdin cannot be put in raw mode: keys do not work, say so. */
  keys: boolean;
}

/** The last line of the screen: the keys that work now. */
export function HelpLine({ mode, keys }: HelpLineProps) {
  const color = useColor();
  if (!keys) return <Text dimColor>keys need an interactive terminal (stdin is not one) · Ctrl-C quits</Text>;
  if (mode.kind === "confirm") {
    return (
      <Text color={color("yellow")} bold>
        {`cancel action ${mode.actionId}? rows not applied yet stay pending · y yes · n no`}
      </Text>
    );
  }
  if (mode.kind === "filter") return <Text>{`filter (status or account, empty for all): ${mode.text}█  Enter apply · Esc back`}</Text>;
  const [move, filter] = mode.view === "list" ? ["↑↓ move  Enter detail", "  / filter"] : ["Esc back", ""];
  return <Text dimColor>{`${move}  p pause  r resume  c cancel  x retry${filter}  q quit`}</Text>;
}
