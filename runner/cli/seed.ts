import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { writeSeedCsv } from "../engine/seed.ts";
import { BulkrunError } from "../errors.ts";
import { intFlag, parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { count } from "./progress.ts";

const USAGE = "bulkrun seed <file> --rows N [--duplicates PCT] [--invalid PCT] [--seed N]";

export const seed: Command = {
  name: "seed",
  summary: "write a CSV of fake users (name, email, phone) to import",
  usage: "bulkrun seed <file> --rows N [--duplicates PCT] [--invalid PCT]",
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { rows: { type: "string" }, duplicates: { type: "string" }, invalid: { type: "string" }, seed: { type: "string" } },
      USAGE,
    );
    if (positionals.length !== 1 || values.rows === undefined) throw new BulkrunError("BULKRUN_ERR_USAGE", `usage: ${USAGE}`);
    const folder = dirname(positionals[0]!);
    if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
      throw new BulkrunError("BULKRUN_ERR_FILE_NOT_FOUND", `cannot write ${positionals[0]}: the folder ${folder} does not exist`);
    }
    const started = performance.now();
    const summary = await writeSeedCsv(positionals[0]!, {
      rows: intFlag("rows", values.rows, 1, 1_000_000_000)!,
      duplicates: intFlag("duplicates", values.duplicates, 0, 100),
      invalid: intFlag("invalid", values.invalid, 0, 100),
      seed: intFlag("seed", values.seed, 0, 2 ** 31),
    });
    const took = (performance.now() - started) / 1000;
    io.out(
      `wrote ${count(summary.rows)} rows (${count(summary.duplicates)} duplicate emails, ${count(summary.invalid)} invalid) ` +
        `to ${positionals[0]} in ${took.toFixed(1)} s`,
    );
    return 0;
  },
};
