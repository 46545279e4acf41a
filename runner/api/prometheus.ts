import type { Metric } from "../engine/metrics.ts";

function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Metrics in Prometheus's text exposition format (version 0.0.4). */
export function prometheusText(metrics: Metric[]): string {
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`);
    for (const { labels, value } of metric.samples) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
      lines.push(`${metric.name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
