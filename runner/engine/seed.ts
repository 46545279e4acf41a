import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Faker } from "@faker-js/faker";
import { BulkrunError } from "../errors.ts";

/** What {@link writeSeedCsv} writes. */
export interface SeedOptions {
  /** Data rows to write after the `name,email,phone` header. */
  rows: number;
  /**
   * Percentage of rows that reuse the email of an earlier row, upper-cased and under
   * another name, to exercise case-insensitive de-duplication.
   * @default 0
   */
  duplicates?: number;
  /**
   * Percentage of rows whose email is invalid, such as `not-an-email`.
   * @default 0
   */
  invalid?: number;
  /**
   * Seed for names and for which rows are duplicates or invalid: the same seed writes the same file.
   * @default 42
   */
  seed?: number;
}

/** What {@link writeSeedCsv} wrote. */
export interface SeedSummary {
  /** Data rows written, header excluded. */
  rows: number;
  /** Rows reusing an earlier email: `Math.round(rows * duplicates / 100)`. */
  duplicates: number;
  /** Rows with an invalid email: `Math.round(rows * invalid / 100)`. */
  invalid: number;
  /** Size of the written file in bytes. */
  bytes: number;
}

interface Plan {
  rows: number;
  duplicates: number;
  invalid: number;
  seed: number;
}

interface PoolName {
  name: string;
  /** Lowercase ASCII form used in emails. */
  slug: string;
}

interface NamePools {
  first: PoolName[];
  last: PoolName[];
}

interface Original {
  name: string;
  email: string;
}

const POOL_SIZE = 5000;
const RESERVOIR_SIZE = 4096;
const CHUNK_CHARS = 64 * 1024;
const SUFFIXES = [", Jr.", ", Sr.", ", III"];

/**
 * Writes a CSV of fake users (`name,email,phone`) for demos and benchmarks, streaming to disk.
 * Emails are unique except the requested duplicates; some names need CSV quoting (`"Smith, Jr."`,
 * nicknames in double quotes) and many have accents. Deterministic for a given seed.
 *
 * @throws BulkrunError `BULKRUN_ERR_OPTIONS` when an option is out of range.
 */
export async function writeSeedCsv(path: string, options: SeedOptions): Promise<SeedSummary> {
  const plan = planOf(options);
  const pools = await namePools(plan.seed);
  let bytes = 0;
  function* counted(): Generator<string> {
    for (const chunk of csvChunks(plan, pools)) {
      bytes += Buffer.byteLength(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(counted()), createWriteStream(path));
  return { rows: plan.rows, duplicates: plan.duplicates, invalid: plan.invalid, bytes };
}

function planOf(options: SeedOptions): Plan {
  const { rows, duplicates = 0, invalid = 0, seed = 42 } = options;
  if (!Number.isSafeInteger(rows) || rows < 0) {
    throw new BulkrunError("BULKRUN_ERR_OPTIONS", `rows must be a whole number of 0 or more, got ${rows}`);
  }
  for (const [key, percent] of [["duplicates", duplicates], ["invalid", invalid]] as const) {
    if (!(percent >= 0 && percent <= 100)) {
      throw new BulkrunError("BULKRUN_ERR_OPTIONS", `${key} is a percentage from 0 to 100, got ${percent}`);
    }
  }
  if (!Number.isSafeInteger(seed)) {
    throw new BulkrunError("BULKRUN_ERR_OPTIONS", `seed must be a whole number, got ${seed}`);
  }
  const plan = {
    rows,
    duplicates: Math.round((rows * duplicates) / 100),
    invalid: Math.round((rows * invalid) / 100),
    seed,
  };
  if (plan.duplicates > 0 && plan.duplicates + plan.invalid >= rows) {
    throw new BulkrunError(
      "BULKRUN_ERR_OPTIONS",
      `duplicates (${duplicates}%) and invalid (${invalid}%) leave no row with an original email ` +
        "for duplicates to reuse: lower one of them",
    );
  }
  return plan;
}

function* csvChunks(plan: Plan, pools: NamePools): Generator<string> {
  const random = randomFrom(plan.seed);
  // A uniform sample of earlier original emails, so duplicates reach far back at constant memory.
  const reservoir: Original[] = [];
  let originals = 0;
  let duplicatesLeft = plan.duplicates;
  let invalidLeft = plan.invalid;
  let out = "name,email,phone\n";
  for (let i = 0; i < plan.rows; i++) {
    let name = personName(random, pools);
    // Selection sampling: each remaining row is picked with probability left/remaining, which
    // hits the exact counts. Row 1 stays original when duplicates need one to copy.
    const remaining = plan.rows - i;
    const pick = plan.duplicates > 0 && i === 0 ? remaining : random() * remaining;
    let email: string;
    if (pick < duplicatesLeft) {
      duplicatesLeft--;
      const original = reservoir[Math.floor(random() * reservoir.length)]!;
      while (name.full === original.name) name = personName(random, pools);
      email = original.email.toUpperCase();
    } else if (pick < duplicatesLeft + invalidLeft) {
      invalidLeft--;
      email = invalidEmail(random, name.slug, i + 1);
    } else {
      email = `${name.slug}.${i + 1}@example.com`;
      originals++;
      if (reservoir.length < RESERVOIR_SIZE) reservoir.push({ name: name.full, email });
      else {
        const slot = Math.floor(random() * originals);
        if (slot < RESERVOIR_SIZE) reservoir[slot] = { name: name.full, email };
      }
    }
    const phone = 2_000_000_000 + Math.floor(random() * 8_000_000_000);
    // Emails and phones are built from [a-z0-9.@-] only, so only names can need quoting.
    out += `${csvField(name.full)},${email},${phone}\n`;
    if (out.length >= CHUNK_CHARS) {
      yield out;
      out = "";
    }
  }
  yield out;
}

async function namePools(seed: number): Promise<NamePools> {
  // Loaded on demand: faker's locale data costs about 250 ms and 20 MB that other commands should not pay.
  const { Faker, base, cs_CZ, de, en, es, fr, pl, pt_BR, sv, tr } = await import("@faker-js/faker");
  // Several locales so that names carry accents and letters outside ASCII.
  const locales = [en, de, fr, es, pl, cs_CZ, pt_BR, sv, tr];
  const fakers = locales.map((locale, i) => new Faker({ locale: [locale, en, base], seed: seed + i }));
  const pool = (make: (faker: Faker) => string) =>
    Array.from({ length: POOL_SIZE }, (_, i) => poolName(make(fakers[i % fakers.length]!)));
  return { first: pool((f) => f.person.firstName()), last: pool((f) => f.person.lastName()) };
}

function poolName(name: string): PoolName {
  const slug = name
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
  return { name, slug: slug || "user" };
}

function personName(random: () => number, pools: NamePools) {
  const first = pickFrom(random, pools.first);
  const last = pickFrom(random, pools.last);
  const variant = random();
  const full =
    variant < 0.02
      ? `${first.name} ${last.name}${pickFrom(random, SUFFIXES)}`
      : variant < 0.03
        ? `${first.name} "${pickFrom(random, pools.first).name}" ${last.name}`
        : `${first.name} ${last.name}`;
  return { full, slug: `${first.slug}.${last.slug}` };
}

function invalidEmail(random: () => number, slug: string, row: number): string {
  const variant = Math.floor(random() * 3);
  if (variant === 0) return "not-an-email";
  return variant === 1 ? `${slug}.${row}.example.com` : `${slug}.${row}@`;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function pickFrom<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A small fast seeded generator (mulberry32); faker's own is too slow to call per row. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
