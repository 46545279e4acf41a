import type { Knex } from "knex";

/** One sample of a metric: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One metric as Prometheus exposes it. */
export interface Metric {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: Sample[];
}

const OUTCOMES = ["created", "updated", "deleted", "skipped", "failed"] as const;

/**
 * The state of every account, read from the tables at scrape time: any number of runners share
 * the database, so no single process could count for all of them.
 */
export async function collectMetrics(db: Knex, deadAfterMs: number): Promise<Metric[]> {
  const [rows, actions, chunks, queue, waits, limits, runners] = await Promise.all([
    db.raw<{ rows: ({ account: string } & Record<(typeof OUTCOMES)[number], number>)[] }>(
      `select a.name as account, sum(b.created)::bigint as created, sum(b.updated)::bigint as updated,
              sum(b.deleted)::bigint as deleted, sum(b.skipped)::bigint as skipped, sum(b.failed)::bigint as failed
         from bulkrun.bulk_actions b join bulkrun.accounts a on a.id = b.account_id
        where not b.dry_run group by a.name order by a.name`,
    ),
    db.raw<{ rows: { account: string; status: string; n: number }[] }>(
      `select a.name as account, b.status, count(*)::int as n
         from bulkrun.bulk_actions b join bulkrun.accounts a on a.id = b.account_id
        group by a.name, b.status order by 1, 2`,
    ),
    db.raw<{ rows: { account: string; status: string; n: number }[] }>(
      `select a.name as account, c.status, count(*)::int as n
         from bulkrun.bulk_action_chunks c join bulkrun.bulk_actions b on b.id = c.action_id
         join bulkrun.accounts a on a.id = b.account_id
        group by a.name, c.status order by 1, 2`,
    ),
    db.raw<{ rows: { task: string; n: number }[] }>(
      `select task_identifier as task, count(*)::int as n from graphile_worker.jobs
        where locked_at is null and run_at <= now() group by 1 order by 1`,
    ),
    // A chunk over its account's limit is re-enqueued, unattempted, for when the bucket refills.
    db.raw<{ rows: { account: string; n: number }[] }>(
      `select a.name as account, count(*)::int as n
         from graphile_worker.jobs j
         join bulkrun.bulk_action_chunks c on j.key = 'bulkrun.chunk:' || c.id
         join bulkrun.bulk_actions b on b.id = c.action_id join bulkrun.accounts a on a.id = b.account_id
        where j.task_identifier = 'bulkrun.chunk' and j.attempts = 0 and j.run_at > now() and j.locked_at is null
        group by a.name order by 1`,
    ),
    db.raw<{ rows: { account: string; rate_limit_per_minute: number }[] }>(
      "select name as account, rate_limit_per_minute from bulkrun.accounts where rate_limit_per_minute is not null order by name",
    ),
    db.raw<{ rows: { n: number }[] }>(
      `select count(*)::int as n from bulkrun_private.runners
        where dead_at is null and last_beat_at > now() - make_interval(secs => ?)`,
      [deadAfterMs / 1000],
    ),
  ]);
  return [
    {
      name: "bulkrun_rows_applied_total",
      type: "counter",
      help: "Rows applied by bulk actions (dry runs excluded), by account and outcome.",
      samples: rows.rows.flatMap((r) => OUTCOMES.map((outcome) => ({ labels: { account: r.account, outcome }, value: Number(r[outcome]) }))),
    },
    {
      name: "bulkrun_actions",
      type: "gauge",
      help: "Bulk actions by account and status (queued, running, paused, ... are the active ones).",
      samples: actions.rows.map((r) => ({ labels: { account: r.account, status: r.status }, value: r.n })),
    },
    {
      name: "bulkrun_chunks",
      type: "gauge",
      help: "Chunks by account and status (pending, done, failed).",
      samples: chunks.rows.map((r) => ({ labels: { account: r.account, status: r.status }, value: r.n })),
    },
    {
      name: "bulkrun_queue_depth",
      type: "gauge",
      help: "Jobs ready to run that no worker has taken yet, by task.",
      samples: queue.rows.map((r) => ({ labels: { task: r.task }, value: r.n })),
    },
    {
      name: "bulkrun_rate_limit_waiting_chunks",
      type: "gauge",
      help: "Chunks waiting for their account's rate limit to refill, by account.",
      samples: waits.rows.map((r) => ({ labels: { account: r.account }, value: r.n })),
    },
    {
      name: "bulkrun_account_rate_limit_rows_per_minute",
      type: "gauge",
      help: "The rate limit of each rate-limited account.",
      samples: limits.rows.map((r) => ({ labels: { account: r.account }, value: r.rate_limit_per_minute })),
    },
    {
      name: "bulkrun_runners_alive",
      type: "gauge",
      help: "Runner processes whose heartbeat is recent.",
      samples: [{ labels: {}, value: runners.rows[0]!.n }],
    },
  ];
}
