import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { openCsv } from "../../runner/engine/csv.ts";
import { isBulkrunError } from "../../runner/errors.ts";

function streamOf(content: string | Buffer, chunkSize = 64 * 1024): Readable {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  return Readable.from(chunks, { objectMode: false });
}

async function readAll(content: string | Buffer, chunkSize?: number) {
  const reader = await openCsv(streamOf(content, chunkSize));
  const rows: string[][] = [];
  for await (const batch of reader.batches) rows.push(...batch);
  return { header: reader.header, rows };
}

describe("openCsv", () => {
  it("reads the header and data rows of a simple file", async () => {
    const { header, rows } = await readAll("name,email,phone\nAda,ada@example.com,5550000001\n");
    assert.deepEqual(header, ["name", "email", "phone"]);
    assert.deepEqual(rows, [["Ada", "ada@example.com", "5550000001"]]);
  });

  it("strips a UTF-8 byte-order mark and trims header cells", async () => {
    const { header } = await readAll("\uFEFF name , email\nAda,ada@example.com");
    assert.deepEqual(header, ["name", "email"]);
  });

  for (const [label, newline] of [["CRLF", "\r\n"], ["CR", "\r"], ["LF", "\n"]] as const) {
    it(`accepts ${label} line ends, also when a chunk ends between CR and LF`, async () => {
      const content = ["name,email", "Ada,a@x.io", "Bob,b@x.io", ""].join(newline);
      for (const chunkSize of [1, 2, 3, 11, 1024]) {
        const { header, rows } = await readAll(content, chunkSize);
        assert.deepEqual(header, ["name", "email"]);
        assert.deepEqual(rows, [["Ada", "a@x.io"], ["Bob", "b@x.io"]], `chunk size ${chunkSize}`);
      }
    });
  }

  it("accepts a file that mixes LF and CRLF line ends", async () => {
    const { header, rows } = await readAll('name,email\r\nAda,a@x.io\n"Bob",b@x.io\r\nCy,"c@x.io"\r\n');
    assert.deepEqual(header, ["name", "email"]);
    assert.deepEqual(rows, [["Ada", "a@x.io"], ["Bob", "b@x.io"], ["Cy", "c@x.io"]]);
  });

  it("reads quoted fields holding commas, doubled quotes and line breaks", async () => {
    const content = 'name,note\r\n"Smith, Jr.","say ""hi"""\r\n"multi\r\nline",x\r\n';
    for (const chunkSize of [1, 5, 1024]) {
      const { rows } = await readAll(content, chunkSize);
      assert.deepEqual(rows, [["Smith, Jr.", 'say "hi"'], ["multi\r\nline", "x"]]);
    }
  });

  it("keeps multibyte characters intact when their bytes are split across chunks", async () => {
    const names = ["José Núñez", "Zoë Ødegård", "李小龍", "Ελένη", "🙂 Emoji"];
    const content = "name,email\n" + names.map((name, i) => `${name},u${i}@x.io`).join("\n");
    for (const chunkSize of [1, 2, 3, 5, 7]) {
      const { rows } = await readAll(content, chunkSize);
      assert.deepEqual(rows.map((row) => row[0]), names, `chunk size ${chunkSize}`);
    }
  });

  it("uses semicolons when the header has semicolons and no commas", async () => {
    const { header, rows } = await readAll("name;email\nSmith, Ada;a@x.io\n");
    assert.deepEqual(header, ["name", "email"]);
    assert.deepEqual(rows, [["Smith, Ada", "a@x.io"]]);
  });

  it("uses commas when the header has both commas and semicolons", async () => {
    const { header } = await readAll("name,notes;misc\nAda,x\n");
    assert.deepEqual(header, ["name", "notes;misc"]);
  });

  it("skips empty lines but keeps rows made only of delimiters", async () => {
    const { rows } = await readAll("\n\nname,email\n\nAda,a@x.io\n\n,\n\r\n");
    assert.deepEqual(rows, [["Ada", "a@x.io"], ["", ""]]);
  });

  it("yields rows with a different cell count than the header as they are", async () => {
    const { rows } = await readAll("name,email,phone\nAda\nBob,b@x.io,1,extra\n");
    assert.deepEqual(rows, [["Ada"], ["Bob", "b@x.io", "1", "extra"]]);
  });

  it("reads a header-only file without a trailing line break", async () => {
    const { header, rows } = await readAll("name,email");
    assert.deepEqual(header, ["name", "email"]);
    assert.deepEqual(rows, []);
  });

  for (const [label, content] of [["empty", ""], ["BOM-only", "\uFEFF"], ["blank", " \r\n\n  \n"]] as const) {
    it(`rejects a ${label} file with BULKRUN_ERR_CSV_EMPTY from openCsv itself`, async () => {
      await assert.rejects(openCsv(streamOf(content)), (error) => isBulkrunError(error, "BULKRUN_ERR_CSV_EMPTY"));
    });
  }

  it("rejects a file with NUL bytes with BULKRUN_ERR_NOT_CSV", async () => {
    const zip = Buffer.concat([Buffer.from("PK\x03\x04\x14\x00\x00\x00"), Buffer.alloc(200, 7)]);
    await assert.rejects(openCsv(streamOf(zip)), (error) => isBulkrunError(error, "BULKRUN_ERR_NOT_CSV"));
  });

  it("rejects UTF-16 text with BULKRUN_ERR_NOT_CSV", async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("name,email\nAda,a@x.io\n", "utf16le")]);
    await assert.rejects(openCsv(streamOf(utf16)), (error) => isBulkrunError(error, "BULKRUN_ERR_NOT_CSV"));
  });

  it("rejects mostly invalid UTF-8 with BULKRUN_ERR_NOT_CSV", async () => {
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 3 === 0 ? 0x41 : 0x80 + (i % 64);
    await assert.rejects(openCsv(streamOf(bytes, 100)), (error) => isBulkrunError(error, "BULKRUN_ERR_NOT_CSV"));
  });

  it("reports a quote that is never closed instead of buffering the rest of the file", async () => {
    const content = 'name,email\nAda,a@x.io\n"Bob,b@x.io\n' + "Cy,c@x.io\n".repeat(200_000);
    const reader = await openCsv(streamOf(content));
    await assert.rejects(
      async () => {
        for await (const _ of reader.batches);
      },
      (error) => isBulkrunError(error, "BULKRUN_ERR_NOT_CSV") && /data row 2\b/.test(error.message),
    );
  });

  it("yields full batches of batchSize rows and a smaller last batch", async () => {
    const content = "n\n" + Array.from({ length: 25 }, (_, i) => `r${i}`).join("\n");
    const reader = await openCsv(streamOf(content, 7), { batchSize: 10 });
    const sizes: number[] = [];
    for await (const batch of reader.batches) sizes.push(batch.length);
    assert.deepEqual(sizes, [10, 10, 5]);
  });

  it("reads the input only as fast as the consumer pulls batches", async () => {
    let chunksRead = 0;
    const input = Readable.from(
      (function* () {
        yield Buffer.from("name,email\n");
        for (let i = 0; i < 10_000; i++, chunksRead++) yield Buffer.from(`u${i},u${i}@x.io\n`.repeat(100));
      })(),
      { objectMode: false },
    );
    const reader = await openCsv(input, { batchSize: 100 });
    for await (const _ of reader.batches) break;
    assert.ok(chunksRead < 200, `read ${chunksRead} of 10000 chunks for one batch`);
  });

  it("destroys the input and settles when the consumer breaks out early", async () => {
    const input = Readable.from(
      (function* () {
        yield Buffer.from("name,email\n");
        for (let i = 0; ; i++) yield Buffer.from(`u${i},u${i}@x.io\n`.repeat(100));
      })(),
      { objectMode: false },
    );
    const reader = await openCsv(input, { batchSize: 50 });
    let batches = 0;
    for await (const _ of reader.batches) if (++batches === 3) break;
    assert.equal(batches, 3);
    assert.equal(input.destroyed, true);
  });

  it("destroys the input when openCsv rejects", async () => {
    const input = streamOf(Buffer.alloc(100));
    await assert.rejects(openCsv(input));
    assert.equal(input.destroyed, true);
  });
});
