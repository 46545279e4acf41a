import type { LedgerEntry } from "./ledger.ts";

interface Keyed {
  bucket: number;
  row_number: number;
  key: string;
}

/**
 * Keeps the last row of every key (rows come in source order) and turns the earlier ones into
 * `duplicate_in_file` entries. Every duplicate of a key is in the same chunk, since chunks are
 * bucket ranges and the bucket is a hash of the key.
 */
export function dedupeByKey<T extends Keyed>(items: T[]): { unique: T[]; duplicates: LedgerEntry[] } {
  const last = new Map<string, number>();
  for (const item of items) last.set(item.key, item.row_number);
  if (last.size === items.length) return { unique: items, duplicates: [] };
  const unique: T[] = [];
  const duplicates: LedgerEntry[] = [];
  for (const item of items) {
    const winner = last.get(item.key)!;
    if (winner === item.row_number) {
      unique.push(item);
    } else {
      duplicates.push({
        bucket: item.bucket,
        row: item.row_number,
        kind: "skipped",
        outcome: "duplicate_in_file",
        error: `row ${winner} has the same key (${item.key}); the last row wins`,
        entityId: null,
      });
    }
  }
  return { unique, duplicates };
}
