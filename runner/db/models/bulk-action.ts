import { Model } from "objection";
import type { ActionStatus, LedgerState } from "../../engine/actions.ts";

/** One requested bulk action: `bulkrun.bulk_actions`. */
export class BulkAction extends Model {
  static override tableName = "bulkrun.bulk_actions";

  id!: number;
  account_id!: number;
  type!: string;
  status!: ActionStatus;
  options!: Record<string, unknown>;
  source!: Record<string, unknown>;
  chunk_size!: number | null;
  total!: number | null;
  processed!: number;
  created!: number;
  updated!: number;
  deleted!: number;
  skipped!: number;
  failed!: number;
  warnings!: string[];
  /** Evaluate without applying. */
  dry_run!: boolean;
  /** Higher runs sooner (-100 to 100). */
  priority!: number;
  error_code!: string | null;
  error!: string | null;
  parent_id!: number | null;
  /** What is left of its per-row ledger after retention (see sql/000009_ledger_retention.sql). */
  ledger_state!: LedgerState;
  /** When retention began removing its ledger; null while complete. */
  ledger_pruned_at!: Date | null;
  started_at!: Date | null;
  finished_at!: Date | null;
  created_at!: Date;
}
