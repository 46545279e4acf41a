import { Model } from "objection";

/** A tenant: `bulkrun.accounts`. */
export class Account extends Model {
  static override tableName = "bulkrun.accounts";

  id!: number;
  name!: string;
  /** Rows per minute this account may apply; null is unlimited. */
  rate_limit_per_minute!: number | null;
  created_at!: Date;
}
