import { Box, Text } from "ink";
import { compact, count, duration, fit, timeLeft } from "../format.ts";
import type { ActionDetail as Detail } from "../model.ts";
import { useColor } from "../theme.ts";
import { ChunkStrip } from "./ChunkStrip.tsx";
import { ProgressBar } from "./ProgressBar.tsx";
import { Sparkline } from "./Sparkline.tsx";
import { StatusText } from "./StatusText.tsx";

/** Props of {@link ActionDetail}. */
export interface ActionDetailProps {
  detail: Detail;
  width: number;
  /** Lines available. */
  height: number;
  now: number;
}

const json = (value: unknown) => JSON.stringify(value) ?? "-";

function sourceText(source: unknown): string {
  const s = source as { kind?: string; url?: string; fileName?: string } | null;
  if (!s || typeof s !== "object") return json(source);
  if (s.url) return s.url;
  return s.kind ?? json(source);
}

/** One action: its counters, options, chunks, throughput over time and why rows failed. */
export function ActionDetail({ detail, width, height, now }: ActionDetailProps) {
  const color = useColor();
  const { action } = detail;
  const life = detail.startedAt ? duration((detail.finishedAt?.getTime() ?? now) - detail.startedAt.getTime()) : "-";
  const head = ` · ${action.type} · ${action.account} · `;
  const rate = `${compact(action.rowsPerSecond)} rows/s · ETA ${timeLeft(action.eta, now)}`;
  const rows = `${count(action.processed)} / ${action.total === null ? "?" : count(action.total)} rows`;
  // Lines the fixed part takes; what is left goes to the failure reasons and their sample rows.
  const fixedLines = 10 + (detail.error ? 1 : 0);
  const budget = Math.max(0, height - fixedLines);
  const failures = detail.failures.flatMap((f) => [
    { key: `${f.outcome}:${f.reason}`, text: `${count(f.rows).padStart(7)} × ${f.outcome ?? "failed"}: ${f.reason}`, sample: false },
    ...f.samples.map((s) => ({ key: `${f.reason}:${s.rowNumber}`, text: `          row ${s.rowNumber}: ${json(s.data)}`, sample: true })),
  ]);
  // Short of room, the reasons go before their sample rows.
  const shownFailures = (failures.length <= budget ? failures : failures.filter((line) => !line.sample)).slice(0, budget);
  return (
    <Box flexDirection="column">
      <Text bold>
        {fit(`action ${action.id}${head}`, width - 30)}
        <StatusText status={action.status} />
        {detail.dryRun ? " (dry run)" : ""}
        {` · ${rate}`}
      </Text>
      <Text>
        <ProgressBar share={action.progress} width={Math.max(10, width - rows.length - 8)} /> {rows}
      </Text>
      <Text>
        {fit(
          `created ${count(action.created)} · updated ${count(action.updated)} · deleted ${count(action.deleted)} · skipped ${count(action.skipped)} · `,
          width,
        )}
        <Text color={action.failed > 0 ? color("red") : undefined}>failed {count(action.failed)}</Text>
      </Text>
      <Text wrap="truncate">{`options ${json(detail.options)} · source ${sourceText(detail.source)} · chunk size ${detail.chunkSize ?? "default"}`}</Text>
      <Text wrap="truncate">{`created ${action.createdAt.toISOString().slice(0, 19).replace("T", " ")} UTC · ${detail.finishedAt ? "ran" : "running"} for ${life}`}</Text>
      {detail.error ? (
        <Text color={color("red")} wrap="truncate">
          {`error ${detail.error}`}
        </Text>
      ) : null}
      <Text> </Text>
      <Text>{`chunks (${count(detail.chunkCount)}, in order; █ done ▒ some done · pending ✗ failed)`}</Text>
      <ChunkStrip slots={detail.chunks} />
      <Text>
        {"throughput "}
        <Sparkline values={detail.throughput} width={Math.max(10, width - 30)} />
        {` max ${compact(Math.max(0, ...detail.throughput))} rows/s`}
      </Text>
      <Text bold>{detail.failures.length ? "why rows failed" : "no rows failed"}</Text>
      {shownFailures.map((line) => (
        <Text key={line.key} dimColor={line.sample} wrap="truncate">
          {line.text}
        </Text>
      ))}
    </Box>
  );
}
