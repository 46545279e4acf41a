import type { Readable } from "node:stream";
import Papa from "papaparse";
import { BulkrunError } from "../errors.ts";

/** A CSV file opened for streaming: its header, then its data rows in batches. */
export interface CsvReader {
  /** Header cells exactly as in the file (BOM stripped, trimmed). */
  header: string[];
  /**
   * Data rows in file order, in batches (arrays of rows; each row an array of cells).
   * Row numbers are implied by order: first data row = 1. Rows whose cell count differs
   * from the header are yielded as they are. Iterate to the end or break out: both
   * release the input stream; the file is read only as fast as batches are pulled.
   */
  batches: AsyncIterable<string[][]>;
}

/** Options of {@link openCsv}. */
export interface CsvOptions {
  /**
   * Rows per batch; the last batch may be smaller.
   * @default 2000
   */
  batchSize?: number;
}

interface Head {
  /** Decoded text read so far, starting at the header line. */
  text: string;
  done: boolean;
  delimiter: "," | ";";
  /** Whether lines end in a lone CR (old Mac files) rather than LF or CRLF. */
  crOnly: boolean;
}

/** The part of papaparse's core `Parser#parse` result we use; it is typed `any` upstream. */
interface ParsedText {
  data: string[][];
  errors: { type: string; code: string; row: number }[];
  meta: { cursor: number };
}

const SNIFF_CHARS = 4096;
const MAX_UNREADABLE_SHARE = 0.1;
// Bounds memory when a stray quote makes the rest of the file look like one field.
const MAX_RECORD_CHARS = 1 << 20;
const LEADING_BLANK = /^[\uFEFF\s]+/;

/**
 * Opens a CSV stream: reads up to the header row and returns it with an iterable of data
 * row batches. Decodes UTF-8, strips a byte-order mark, accepts LF, CRLF and CR line ends,
 * RFC 4180 quoting, and `;` as delimiter when the header has semicolons and no commas.
 * Blank lines (empty or only spaces) are skipped. Bytes that are not UTF-8 become U+FFFD.
 *
 * @throws BulkrunError `BULKRUN_ERR_CSV_EMPTY` when there is no header row,
 *   `BULKRUN_ERR_NOT_CSV` when the input is mostly not text, a quote is malformed or never
 *   closed, or a record runs on past 1 MiB (thrown by `batches` when it is past the header).
 */
export async function openCsv(
  input: NodeJS.ReadableStream | Readable,
  options: CsvOptions = {},
): Promise<CsvReader> {
  const batchSize = options.batchSize ?? 2000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new BulkrunError("BULKRUN_ERR_OPTIONS", `batchSize must be a positive integer, got ${batchSize}`);
  }
  const source = decodeUtf8(input);
  const records = parseRecords(source);
  try {
    const first = await records.next();
    const header = first.done ? undefined : first.value.shift();
    if (first.done || header === undefined) {
      throw new BulkrunError(
        "BULKRUN_ERR_CSV_EMPTY",
        "the file is empty: expected a header row such as `name,email,phone`",
      );
    }
    return { header: header.map((cell) => cell.trim()), batches: rebatch(first.value, records, batchSize) };
  } catch (error) {
    await records.return(undefined);
    destroyInput(input);
    throw error;
  }
}

async function* decodeUtf8(input: NodeJS.ReadableStream | Readable): AsyncGenerator<string> {
  // A stateful decoder keeps multibyte characters that straddle chunks intact and drops a BOM.
  const decoder = new TextDecoder("utf-8");
  // Text held back until there is enough to sniff; undefined once the input passed the sniff.
  let unsniffed: string | undefined = "";
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const text = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      if (unsniffed === undefined) {
        if (text) yield text;
        continue;
      }
      unsniffed += text;
      if (unsniffed.length >= SNIFF_CHARS) {
        sniff(unsniffed);
        yield unsniffed;
        unsniffed = undefined;
      }
    }
    const tail = (unsniffed ?? "") + decoder.decode();
    if (unsniffed !== undefined) sniff(tail);
    if (tail) yield tail;
  } finally {
    destroyInput(input);
  }
}

/**
 * Rejects input that is mostly not text. A stray NUL byte or a few bytes of another encoding
 * only fail the rows they are in (see ingest), wherever in the file they are.
 */
function sniff(text: string): void {
  const sample = text.slice(0, SNIFF_CHARS);
  let unreadable = 0;
  for (let i = 0; i < sample.length; i++) {
    const c = sample.charCodeAt(i);
    if (c === 0xfffd || c === 0x7f || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) unreadable++;
  }
  if (unreadable <= sample.length * MAX_UNREADABLE_SHARE) return;
  if (sample.includes("\0")) {
    throw new BulkrunError(
      "BULKRUN_ERR_NOT_CSV",
      "the file is not a CSV: it contains NUL bytes, which text files never do. " +
        'Export it as "CSV UTF-8 (comma delimited)"; Excel workbooks (.xlsx), UTF-16 text and compressed files are not accepted',
    );
  }
  const percent = Math.round((unreadable / sample.length) * 100);
  throw new BulkrunError(
    "BULKRUN_ERR_NOT_CSV",
    `the file is not a CSV: ${percent}% of its first 4 KB is not readable UTF-8 text. ` +
      'Save it as "CSV UTF-8 (comma delimited)" and try again',
  );
}

/** Yields the file's records, one array per decoded chunk, with empty lines left out. */
async function* parseRecords(source: AsyncGenerator<string>): AsyncGenerator<string[][]> {
  try {
    const head = await readHead(source);
    if (head.text === "") return;
    // Splitting CRLF files on LF and dropping the CR afterwards also copes with mixed line ends.
    const parser = new Papa.Parser({ delimiter: head.delimiter, newline: head.crOnly ? "\r" : "\n" });
    let { text, done } = head;
    // Counts the header too, so it is also the number of the data row that comes next.
    let rowsSeen = 0;
    for (;;) {
      // Until the input ends, the last (possibly partial) record stays unparsed in `text`.
      const parsed = parser.parse(text, 0, !done) as ParsedText;
      checkQuotes(parsed, done, rowsSeen);
      const rows = tidy(parsed.data, !head.crOnly);
      // Only input that arrives as one big piece can hold a whole record past the limit.
      if (parsed.meta.cursor > MAX_RECORD_CHARS) {
        const long = rows.findIndex((row) => row.reduce((chars, cell) => chars + cell.length, 0) > MAX_RECORD_CHARS);
        if (long >= 0) throw runawayRecord(rowsSeen + long);
      }
      rowsSeen += rows.length;
      if (rows.length > 0) yield rows;
      if (done) return;
      text = text.slice(parsed.meta.cursor);
      if (text.length > MAX_RECORD_CHARS) throw runawayRecord(rowsSeen);
      const next = await source.next();
      if (next.done) done = true;
      else text += next.value;
    }
  } finally {
    await source.return(undefined);
  }
}

/** Reads until the header line and the line break after it are complete, to choose the dialect. */
async function readHead(source: AsyncGenerator<string>): Promise<Head> {
  let text = "";
  let done = false;
  let end = 0;
  let inQuotes = false;
  for (;;) {
    for (; end < text.length; end++) {
      const c = text.charCodeAt(end);
      if (c === 0x22) inQuotes = !inQuotes;
      else if (!inQuotes && (c === 0x0a || c === 0x0d)) break;
    }
    // A CR at the end of what we have could still be the first half of a CRLF.
    if (end < text.length && (text[end] === "\n" || end + 1 < text.length || done)) {
      const crOnly = text[end] === "\r" && text[end + 1] !== "\n";
      return { text, done, delimiter: delimiterOf(text.slice(0, end)), crOnly };
    }
    if (done) return { text, done, delimiter: delimiterOf(text), crOnly: false };
    if (end > MAX_RECORD_CHARS) throw runawayRecord(0);
    const next = await source.next();
    if (next.done) done = true;
    else text = text === "" ? next.value.replace(LEADING_BLANK, "") : text + next.value;
  }
}

function delimiterOf(headerLine: string): "," | ";" {
  // A quoted column name such as "Last, first" says nothing about the delimiter.
  const unquoted = headerLine.replace(/"[^"]*"/g, "");
  return unquoted.includes(";") && !unquoted.includes(",") ? ";" : ",";
}

/** Drops the CR left by CRLF line ends (when splitting on LF) and then blank lines, in place. */
function tidy(rows: string[][], stripCr: boolean): string[][] {
  let kept = 0;
  for (const row of rows) {
    const last = row.length - 1;
    const cell = row[last] ?? "";
    if (stripCr && cell.endsWith("\r")) row[last] = cell.slice(0, -1);
    if (isBlank(row)) continue;
    rows[kept++] = row;
  }
  rows.length = kept;
  return rows;
}

/** An empty line, or one of only spaces: no data, so not a row (a line of delimiters is one). */
function isBlank(row: string[]): boolean {
  return row.length === 1 && row[0]!.trim() === "";
}

/**
 * Fails the file on a quoting error: papaparse recovers by running the field on to some later
 * quote, which would silently merge the rows in between into one. An error in the record held
 * back for more input is provisional (its closing quote may come in the next chunk).
 */
function checkQuotes(parsed: ParsedText, done: boolean, rowsSeen: number): void {
  const error = parsed.errors.find((e) => e.type === "Quotes" && (done || e.row < parsed.data.length));
  if (!error) return;
  const record = rowsSeen + parsed.data.slice(0, error.row).filter((row) => !isBlank(row)).length;
  const where = record === 0 ? "the header row" : `data row ${record}`;
  throw new BulkrunError(
    "BULKRUN_ERR_NOT_CSV",
    error.code === "MissingQuotes"
      ? `the file is not a readable CSV: ${where} opens a double quote (") that is never closed, which would make ` +
          'the rest of the file one field. Close the quote, or double it ("") where it is part of the text'
      : `the file is not a readable CSV: ${where} has text after the closing double quote of a field. ` +
          'Quote the whole field and double the quotes inside it, e.g. "Ada ""the dev"" Lovelace"',
  );
}

function runawayRecord(dataRow: number): BulkrunError {
  const where = dataRow === 0 ? "the header row" : `data row ${dataRow}`;
  return new BulkrunError(
    "BULKRUN_ERR_NOT_CSV",
    `the file is not a readable CSV: ${where} is longer than 1 MiB. ` +
      'Look for a double quote (") that is opened but never closed near that row; fields longer than 1 MiB are not accepted',
  );
}

async function* rebatch(
  first: string[][],
  rest: AsyncGenerator<string[][]>,
  size: number,
): AsyncGenerator<string[][]> {
  try {
    let batch: string[][] = [];
    for (let rows = first; ; ) {
      for (const row of rows) {
        batch.push(row);
        if (batch.length === size) {
          yield batch;
          batch = [];
        }
      }
      const next = await rest.next();
      if (next.done) break;
      rows = next.value;
    }
    if (batch.length > 0) yield batch;
  } finally {
    await rest.return(undefined);
  }
}

function destroyInput(input: NodeJS.ReadableStream | Readable): void {
  if ("destroy" in input && typeof input.destroy === "function") input.destroy();
}
