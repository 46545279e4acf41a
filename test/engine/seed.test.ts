import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openCsv } from "../../runner/engine/csv.ts";
import { writeSeedCsv } from "../../runner/engine/seed.ts";
import { isBulkrunError } from "../../runner/errors.ts";

const VALID_EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

async function readCsv(path: string) {
  const reader = await openCsv(createReadStream(path));
  const rows: string[][] = [];
  for await (const batch of reader.batches) rows.push(...batch);
  return { header: reader.header, rows };
}

describe("writeSeedCsv", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "bulkrun-seed-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the header, the requested rows and reports the file size", async () => {
    const path = join(dir, "plain.csv");
    const summary = await writeSeedCsv(path, { rows: 2500 });
    const { header, rows } = await readCsv(path);
    assert.deepEqual(header, ["name", "email", "phone"]);
    assert.equal(rows.length, 2500);
    assert.deepEqual(summary, { rows: 2500, duplicates: 0, invalid: 0, bytes: (await stat(path)).size });
    assert.ok(rows.every((row) => row.length === 3));
  });

  it("gives every row a 10-digit phone and, without duplicates, a unique lowercase email", async () => {
    const path = join(dir, "unique.csv");
    await writeSeedCsv(path, { rows: 5000 });
    const { rows } = await readCsv(path);
    assert.ok(rows.every(([, , phone]) => /^\d{10}$/.test(phone ?? "")));
    assert.ok(rows.every(([, email]) => VALID_EMAIL.test(email ?? "") && email === email?.toLowerCase()));
    assert.equal(new Set(rows.map(([, email]) => email)).size, rows.length);
  });

  it("writes names with accents and names that need CSV quoting", async () => {
    const path = join(dir, "names.csv");
    await writeSeedCsv(path, { rows: 5000 });
    const { rows } = await readCsv(path);
    const names = rows.map(([name]) => name ?? "");
    assert.ok(names.some((name) => /[^\x00-\x7f]/.test(name)));
    assert.ok(names.some((name) => /, (Jr\.|Sr\.|III)$/.test(name)));
    assert.ok(names.some((name) => name.includes('"')));
  });

  it("writes exactly the rounded share of duplicate and invalid rows", async () => {
    const path = join(dir, "dirty.csv");
    const summary = await writeSeedCsv(path, { rows: 10_001, duplicates: 7.5, invalid: 3 });
    assert.equal(summary.duplicates, Math.round((10_001 * 7.5) / 100));
    assert.equal(summary.invalid, Math.round((10_001 * 3) / 100));
    const { rows } = await readCsv(path);
    const invalid = rows.filter(([, email]) => !VALID_EMAIL.test(email ?? ""));
    const valid = rows.filter(([, email]) => VALID_EMAIL.test(email ?? ""));
    assert.equal(invalid.length, summary.invalid);

    const nameByEmail = new Map<string, string>();
    let duplicates = 0;
    for (const [name = "", email = ""] of valid) {
      const earlier = nameByEmail.get(email.toLowerCase());
      if (earlier === undefined) {
        assert.equal(email, email.toLowerCase(), "an email's first use is lowercase");
        nameByEmail.set(email, name);
      } else {
        duplicates++;
        assert.notEqual(email, email.toLowerCase(), "a duplicate differs in letter case");
        assert.notEqual(name, earlier, "a duplicate has another name");
      }
    }
    assert.equal(duplicates, summary.duplicates);
    assert.equal(nameByEmail.size, summary.rows - summary.duplicates - summary.invalid);
  });

  it("writes the same file for the same seed and a different one for another seed", async () => {
    const options = { rows: 3000, duplicates: 10, invalid: 5 };
    const [a, b, c] = [join(dir, "a.csv"), join(dir, "b.csv"), join(dir, "c.csv")];
    await writeSeedCsv(a, { ...options, seed: 7 });
    await writeSeedCsv(b, { ...options, seed: 7 });
    await writeSeedCsv(c, { ...options, seed: 8 });
    assert.ok((await readFile(a)).equals(await readFile(b)));
    assert.ok(!(await readFile(a)).equals(await readFile(c)));
  });

  it("writes only the header for zero rows", async () => {
    const path = join(dir, "empty.csv");
    const summary = await writeSeedCsv(path, { rows: 0 });
    assert.equal(await readFile(path, "utf8"), "name,email,phone\n");
    assert.equal(summary.bytes, 17);
  });

  for (const options of [
    { rows: -1 },
    { rows: 1.5 },
    { rows: 10, duplicates: 101 },
    { rows: 10, invalid: Number.NaN },
    { rows: 10, duplicates: 50, invalid: 50 },
    { rows: 10, seed: 0.5 },
  ]) {
    it(`rejects ${JSON.stringify(options)} with BULKRUN_ERR_OPTIONS`, async () => {
      await assert.rejects(writeSeedCsv(join(dir, "bad.csv"), options), (error) =>
        isBulkrunError(error, "BULKRUN_ERR_OPTIONS"),
      );
    });
  }
});
