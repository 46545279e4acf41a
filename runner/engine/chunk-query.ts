import type { Knex } from "knex";
import { ENGINE_OUTCOMES, type AnyAction, type OutcomeKind, type OutcomeQuery, type RowOutcome } from "../plugin.ts";
import { emptyCounts, ITEM_STATUS, type Counts } from "./ledger.ts";
import type { ChunkRange } from "./staged.ts";

/** The CTE that holds a chunk's pending rows in a plugin's {@link OutcomeQuery}. */
export const STAGED_CTE = "bulkrun_chunk_rows";

interface Checked {
  staged: number;
  reported: number;
  written: number;
  by_outcome: Record<string, number> | null;
}

/**
 * The chunk's ledger rows (`bulkrun_chunk_items`: every row number of the range, with its ledger
 * row's address and whether it is pending) and, from them, the pending rows the plugin reads.
 * The ledger's statistics rarely know a new action yet, so a plain scan of its rows would be
 * taken for one row, and every join after it planned as nested loops over whole CTEs (quadratic:
 * a minute for a 10 000-row chunk). Reading the range through generate_series gives the planner
 * the true size instead.
 */
function stagedCte(chunk: ChunkRange): { sql: string; bindings: Knex.RawBinding[] } {
  return {
    sql: `bulkrun_chunk_items as (
      select n.row_number, i.ctid as item, i.key, i.data, i.status = 'pending' as pending
        from generate_series(?::int, ?::int) n(row_number)
        left join bulkrun.bulk_action_items i
          on i.action_id = ? and i.row_number between ? and ? and i.row_number = n.row_number),
    ${STAGED_CTE} as (select row_number, key, data from bulkrun_chunk_items where pending)`,
    bindings: [chunk.row_from, chunk.row_to, chunk.action_id, chunk.row_from, chunk.row_to],
  };
}

function outcomeKind(plugin: AnyAction, outcome: string): OutcomeKind | undefined {
  return plugin.outcomes[outcome] ?? ENGINE_OUTCOMES[outcome as keyof typeof ENGINE_OUTCOMES];
}

/**
 * Runs the plugin's query and writes every row's ledger entry in the same statement. The checks
 * the engine makes of outcomes reported from Node hold here too, set-wise: each staged row
 * reported once, each outcome declared; else the chunk crashes (and rolls back) with the reason.
 * Returns what the chunk adds to the action's counters.
 */
export async function applyChunkQuery(trx: Knex.Transaction, plugin: AnyAction, chunk: ChunkRange, query: OutcomeQuery): Promise<Counts> {
  const staged = stagedCte(chunk);
  const declared = [...Object.entries(plugin.outcomes), ...Object.entries(ENGINE_OUTCOMES)];
  const { rows } = await trx.raw<{ rows: Checked[] }>(
    `with ${staged.sql}, ${query.sql},
     bulkrun_declared (outcome, status) as (select * from unnest(?::text[], ?::text[])),
     bulkrun_ledger as (
       update bulkrun.bulk_action_items i
          set status = d.status, outcome = o.outcome, error = o.error, entity_id = o.entity_id
         from outcomes o
         join bulkrun_chunk_items s on s.row_number = o.row_number and s.pending
         join bulkrun_declared d on d.outcome = o.outcome
        where i.ctid = s.item
       returning 1)
     select (select count(*)::int from ${STAGED_CTE}) as staged,
            (select count(*)::int from outcomes) as reported,
            (select count(*)::int from bulkrun_ledger) as written,
            (select json_object_agg(outcome, n) from (select outcome, count(*)::int as n from outcomes group by outcome) g) as by_outcome`,
    [
      ...staged.bindings,
      ...query.bindings,
      declared.map(([outcome]) => outcome),
      declared.map(([, kind]) => ITEM_STATUS[kind]),
    ],
  );
  const checked = rows[0]!;
  const byOutcome = checked.by_outcome ?? {};
  const undeclared = Object.keys(byOutcome).filter((outcome) => !outcomeKind(plugin, outcome));
  if (undeclared.length > 0) {
    throw new Error(`${plugin.name} reported outcome(s) ${undeclared.map((o) => `\`${o}\``).join(", ")}, which it does not declare`);
  }
  if (checked.reported !== checked.staged || checked.written !== checked.staged) {
    throw new Error(
      `${plugin.name} reported ${checked.reported} outcomes for ${checked.staged} rows, ${checked.written} of them for distinct staged rows; ` +
        "it must report each row once",
    );
  }
  const counts = emptyCounts();
  for (const [outcome, n] of Object.entries(byOutcome)) counts[outcomeKind(plugin, outcome)!] += n;
  counts.processed = checked.staged;
  return counts;
}

/**
 * The plugin query's outcomes as rows, for a dry run: read, not written to the ledger. Also
 * returns how many rows the chunk staged.
 */
export async function selectOutcomes(trx: Knex.Transaction, chunk: ChunkRange, query: OutcomeQuery): Promise<{ staged: number; outcomes: RowOutcome<string>[] }> {
  const staged = stagedCte(chunk);
  const { rows } = await trx.raw<{ rows: { staged: number; row_number: number | null; outcome: string; error: string | null; entity_id: string | null }[] }>(
    `with ${staged.sql}, ${query.sql}
     select s.staged, o.row_number, o.outcome, o.error, o.entity_id
       from (select count(*)::int as staged from ${STAGED_CTE}) s left join outcomes o on true`,
    [...staged.bindings, ...query.bindings],
  );
  const outcomes = rows
    .filter((r) => r.row_number !== null)
    .map((r) => ({ row: r.row_number!, outcome: r.outcome, error: r.error ?? undefined, entityId: r.entity_id ?? undefined }));
  return { staged: rows[0]?.staged ?? 0, outcomes };
}
