import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { openCsv } from "../../runner/engine/csv.ts";
import { parseContact, type ContactRow } from "../../plugins/users-import/validate.ts";

/**
 * Writes the rows an import would keep (valid, last row per email) as a tab-separated file
 * ready for COPY, so the yardstick loads exactly what bulkrun applies. Returns the row count.
 */
export async function writeCleanRows(csvPath: string, outPath: string): Promise<number> {
  const reader = await openCsv(createReadStream(csvPath));
  const header = reader.header.map((h) => h.toLowerCase());
  const latest = new Map<string, ContactRow>();
  for await (const batch of reader.batches) {
    for (const cells of batch) {
      const record = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]));
      const parsed = parseContact(record);
      if ("key" in parsed) {
        latest.delete(parsed.key);
        latest.set(parsed.key, parsed.data);
      }
    }
  }
  const clean = (v: string | null) => (v === null ? "\\N" : v.replace(/[\\\t\n\r]/g, " "));
  function* lines() {
    for (const row of latest.values()) yield `1\t${clean(row.email)}\t${clean(row.name)}\t${clean(row.phone)}\n`;
  }
  await pipeline(Readable.from(lines()), createWriteStream(outPath));
  return latest.size;
}

/** COPYs the clean rows into an empty table indexed exactly like bulkrun.users; returns seconds. */
export async function copyIntoIndexedTable(pool: pg.Pool, cleanPath: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(`
      drop table if exists bench_copy;
      create table bench_copy (like bulkrun.users including all);`);
    const started = performance.now();
    await pipeline(createReadStream(cleanPath), client.query(copyFrom("copy bench_copy (account_id, email, name, phone) from stdin")));
    return (performance.now() - started) / 1000;
  } finally {
    client.release();
  }
}
