import { count } from "../runner/cli/progress.ts";

export { count };

/** A number in at most five characters: 987, 12.3k, 4.56M. */
export function compact(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return "-";
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n));
  for (const [limit, unit] of [[1e6, "k"], [1e9, "M"], [1e12, "G"]] as const) {
    if (abs < limit) {
      const scaled = n / (limit / 1000);
      return `${scaled < 10 ? scaled.toFixed(2) : scaled < 100 ? scaled.toFixed(1) : Math.round(scaled)}${unit}`;
    }
  }
  return n.toExponential(0);
}

/** A duration in at most six characters: 45s, 12m05s, 3h20m, 4d02h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`;
}

/** Time left until `eta`, or "-" when there is none. */
export function timeLeft(eta: Date | null, now: number): string {
  return eta ? duration(eta.getTime() - now) : "-";
}

/** Cuts text to `width` characters, marking the cut with an ellipsis. */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Text cut or padded to exactly `width` characters, on the left (`end`) or right (`start`) side. */
export function cell(text: string, width: number, align: "start" | "end" = "start"): string {
  const cut = fit(text, width);
  return align === "start" ? cut.padEnd(width) : cut.padStart(width);
}
