import { Box, Text } from "ink";
import { cell, compact, timeLeft } from "../format.ts";
import type { ActionSummary } from "../model.ts";
import { useColor } from "../theme.ts";
import { ProgressBar } from "./ProgressBar.tsx";
import { StatusText } from "./StatusText.tsx";

/** Props of {@link ActionTable}. */
export interface ActionTableProps {
  actions: readonly ActionSummary[];
  selectedId: number | undefined;
  /** Columns available. */
  width: number;
  /** Lines available for the rows, the header not included. */
  height: number;
  now: number;
}

const NUMBER = 6;
const STATUS = 10;
/** From this width on, the counters get their full names. */
const WIDE = 110;
const ID = 5;
const PERCENT = 5;

/** How wide the flexible columns are: at 80 columns the bar is short and names are cut. */
function layout(width: number) {
  const counter = width >= WIDE ? 8 : NUMBER;
  const labels = width >= WIDE ? ["CREATED", "UPDATED", "SKIPPED", "FAILED"] : ["CRE", "UPD", "SKIP", "FAIL"];
  const fixed = ID + STATUS + PERCENT + NUMBER * 2 + counter * 4 + 5;
  const free = Math.max(18, width - fixed);
  const type = Math.min(14, Math.max(8, Math.floor(free * 0.4)));
  const account = Math.min(14, Math.max(6, Math.floor(free * 0.3)));
  return { type, account, bar: Math.max(3, free - type - account), counter, labels };
}

/** The first row shown so that the selected one is visible: it scrolls into the middle. */
function firstShown(index: number, rows: number, height: number): number {
  if (rows <= height || index < 0) return 0;
  return Math.max(0, Math.min(index - Math.floor(height / 2), rows - height));
}

/** The actions, one a line, the selected one highlighted; scrolls when they do not fit. */
export function ActionTable({ actions, selectedId, width, height, now }: ActionTableProps) {
  const color = useColor();
  const cols = layout(width);
  const index = actions.findIndex((a) => a.id === selectedId);
  const rows = Math.max(1, height);
  const first = firstShown(index, actions.length, rows);
  const shown = actions.slice(first, first + rows);
  const below = actions.length - first - shown.length;
  const header =
    cell("ID", ID, "end") + " " + cell("TYPE", cols.type) + " " + cell("ACCOUNT", cols.account) + " " + cell("STATUS", STATUS) +
    cell("PROGRESS", cols.bar + PERCENT) + cell("ROWS/S", NUMBER, "end") + cell("ETA", NUMBER, "end") +
    cols.labels.map((label) => cell(label, cols.counter, "end")).join("");
  const scroll = `${first > 0 ? `↑${first}` : ""}${below > 0 ? ` ↓${below}` : ""}`.trim();
  return (
    <Box flexDirection="column">
      <Text bold>
        {cell(header, width - scroll.length - 1)} <Text color={color("yellow")}>{scroll}</Text>
      </Text>
      {actions.length === 0 ? <Text dimColor>no actions</Text> : null}
      {shown.map((a) => {
        const selected = a.id === selectedId;
        return (
          <Text key={a.id} inverse={selected} wrap="truncate">
            {cell(`${selected ? "›" : " "}${a.id}`, ID, "end")} {cell(a.type, cols.type)} {cell(a.account, cols.account)}{" "}
            <StatusText status={a.status} width={STATUS} />
            <ProgressBar share={a.progress} width={cols.bar} />
            {cell(compact(a.rowsPerSecond), NUMBER, "end")}
            {cell(timeLeft(a.eta, now), NUMBER, "end")}
            {cell(compact(a.created), cols.counter, "end")}
            {cell(compact(a.updated), cols.counter, "end")}
            {cell(compact(a.skipped), cols.counter, "end")}
            <Text color={a.failed > 0 ? color("red") : undefined}>{cell(compact(a.failed), cols.counter, "end")}</Text>
          </Text>
        );
      })}
    </Box>
  );
}
