import type { Knex } from "knex";
import type { FilterFields } from "./engine/filter.ts";
import type { InferOptions, OptionsSchema } from "./engine/options.ts";

export type { FilterFields } from "./engine/filter.ts";
export type { InferOptions, OptionsSchema } from "./engine/options.ts";

/** What an outcome counts as on the action: one of its counters. */
export type OutcomeKind = "created" | "updated" | "deleted" | "skipped" | "failed";

/** Outcomes the engine itself reports, for every action type. */
export const ENGINE_OUTCOMES = {
  /** The row could not be parsed or validated (see its error). */
  invalid: "failed",
  /** A later row of the file has the same key; the last row wins. */
  duplicate_in_file: "skipped",
  /** The row's chunk failed on every attempt (see its error). */
  chunk_failed: "failed",
} as const satisfies Record<string, OutcomeKind>;

/** What happened to one row. Outcomes are data: throw only when the whole chunk must be retried. */
export interface RowOutcome<Outcome extends string> {
  row: number;
  outcome: Outcome;
  /** Why, for failed and skipped rows. */
  error?: string;
  /** The id of the entity written, if any. */
  entityId?: number | string;
}

/** Everything a plugin needs to apply one chunk. */
export interface ChunkContext<Options> {
  /** The chunk's transaction: the engine commits it with the ledger and the counters. */
  db: Knex.Transaction;
  accountId: number;
  actionId: number;
  options: Options;
  /**
   * The chunk's rows, de-duplicated by key (the last row of the source wins): columns
   * `row_number integer`, `key text`, `data jsonb` (what `parse` returned). Read it with
   * set-based SQL, e.g. `select row_number, data->>'email' from ${staged}`. For `processChunk`
   * it is a temporary table; for `chunkQuery` the name of a CTE of the chunk's statement, so only
   * that statement can read it.
   */
  staged: string;
}

/**
 * A chunk's work as SQL: CTEs (without the leading `with`), the last of them named `outcomes`,
 * with one row per staged row: `row_number integer, outcome text, error text, entity_id bigint`.
 */
export interface OutcomeQuery {
  sql: string;
  /** Values for the `?` placeholders of `sql`, in order. */
  bindings: readonly Knex.RawBinding[];
}

/** A parsed source row: its key and data, or why it is invalid. */
export type ParsedRow<Row> = { key: string; data: Row } | { error: string };

/** A list fixed by the plugin, or one that depends on the action's options. */
export type ByOptions<Options, T> = T | ((options: Options) => T);

/** The value of a ByOptions for these options. */
export function byOptions<Options, T>(value: ByOptions<Options, T>, options: Options): T {
  return typeof value === "function" ? (value as (options: Options) => T)(options) : value;
}

/** How CSV rows become items. Columns are matched case-insensitively. */
export interface CsvInput<Options, Row> {
  /** Columns the plugin reads, lower case. */
  columns: ByOptions<Options, readonly string[]>;
  /** Columns that must be present in the header. */
  required: ByOptions<Options, readonly string[]>;
  /**
   * What a column the plugin does not read means: noise to ignore (reported once on the action),
   * or a mistake that fails the action before anything is applied.
   * @default "ignore"
   */
  unknownColumns?: "ignore" | "reject";
  /** Validates and normalises one row; keys are the lower-case column names present. */
  parse(record: Record<string, string>, options: Options): ParsedRow<Row>;
}

/**
 * How a filter picks an action's rows: at prepare time the ids it matches are snapshotted into
 * the ledger (rows created later are not touched), each staged with data `{"id": ...}`.
 */
export interface FilterInput {
  /** The fields a filter may use, and their columns. */
  fields: FilterFields;
  /** The account's entities a filter chooses from: a query of `id`s. */
  table(db: Knex, accountId: number): Knex.QueryBuilder;
}

/** What every action type declares, however it applies its chunks. */
export interface ActionBase<
  Schema extends OptionsSchema,
  Row,
  Outcomes extends Record<string, OutcomeKind>,
> {
  /** Dotted name stored in `bulk_actions.type`, e.g. `users.import`. */
  name: string;
  /** One line for `bulkrun --help` and the API. */
  description: string;
  options: Schema;
  /** Checks that go beyond the schema (e.g. values of a `record` option); throw BULKRUN_ERR_OPTIONS. */
  check?(options: InferOptions<Schema>): void;
  /** What each outcome the plugin reports counts as. */
  outcomes: Outcomes;
  /** Takes CSV rows (files, URLs, inline rows). */
  csv?: CsvInput<InferOptions<Schema>, Row>;
  /** Takes a filter over existing entities. */
  filter?: FilterInput;
  /**
   * A folder of the plugin's own migrations (`000001_name.sql`, ...), applied after bulkrun's
   * own, in order, once per database; e.g. `new URL("./sql", import.meta.url).pathname`.
   */
  migrations?: string;
}

/** How a plugin applies a chunk: one of two ways. Throwing means the chunk crashed: it is retried whole. */
export type ChunkApply<Options, Outcome extends string> =
  | {
      /**
       * Applies a chunk with set-based SQL over `staged` (one statement, not one per row) and
       * reports every staged row exactly once. For work that is not all SQL (e.g. a call to
       * another service), and the simplest to write.
       */
      processChunk(context: ChunkContext<Options>): Promise<RowOutcome<Outcome>[]>;
      chunkQuery?: never;
    }
  | {
      /**
       * Returns the chunk's work as CTEs ending in `outcomes`; the engine runs them in one
       * statement together with the ledger write, so no row travels to Node and back. The
       * fastest way, for work that is all SQL. Outcome names cannot be checked by the compiler
       * here: one the plugin does not declare crashes the chunk.
       */
      chunkQuery(context: ChunkContext<Options>): OutcomeQuery | Promise<OutcomeQuery>;
      processChunk?: never;
    };

/** An action type: the one thing a plugin author writes. */
export type ActionDefinition<
  Schema extends OptionsSchema,
  Row,
  Outcomes extends Record<string, OutcomeKind>,
> = ActionBase<Schema, Row, Outcomes> & ChunkApply<InferOptions<Schema>, Extract<keyof Outcomes, string>>;

/** Any action type, as the engine holds them: rows and options are opaque to it. */
export type AnyAction = ActionDefinition<any, any, Record<string, OutcomeKind>>;

/** Validated options of any action type. */
export type AnyOptions = InferOptions<OptionsSchema>;

/** Identity helper that gives a plugin full type inference. */
export function defineAction<
  const Schema extends OptionsSchema,
  Row,
  const Outcomes extends Record<string, OutcomeKind>,
>(definition: ActionDefinition<Schema, Row, Outcomes>): ActionDefinition<Schema, Row, Outcomes> {
  return definition;
}
