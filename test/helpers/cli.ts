import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const ENTRY = resolve(ROOT, "runner/cli/entry.ts");

/** What a person running `bulkrun` sees. */
export interface CliResult {
  /** Exit code; null when the process was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The DATABASE_URL the command runs against. */
  databaseUrl: string;
  /** @default 30000 */
  timeoutMs?: number;
  /** More environment for the process. */
  env?: Record<string, string>;
}

/** A `bulkrun` process still running. */
export interface RunningCli {
  child: ChildProcess;
  /** Resolves with what it printed once it exits; rejects if it outlives its timeout. */
  result: Promise<CliResult>;
  /** Resolves once stderr matches `pattern`. */
  stderrMatches(pattern: RegExp): Promise<void>;
}

/** Starts `bulkrun <args>` as a child process, the way a shell would. */
export function startCli(args: string[], options: CliOptions): RunningCli {
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Inherited, it would make the child report to this test runner instead of printing.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    cwd: ROOT,
    env: { ...env, ...options.env, DATABASE_URL: options.databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const result = new Promise<CliResult>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bulkrun ${args.join(" ")} did not exit within ${timeoutMs} ms; stderr so far:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
  const stderrMatches = (pattern: RegExp) =>
    new Promise<void>((resolvePromise, reject) => {
      const check = () => {
        if (!pattern.test(stderr)) return;
        child.stderr!.off("data", check);
        resolvePromise();
      };
      child.stderr!.on("data", check);
      child.on("close", () => reject(new Error(`bulkrun exited before printing ${pattern}; stderr:\n${stderr}`)));
      check();
    });
  return { child, result, stderrMatches };
}

/** Runs `bulkrun <args>` to the end and collects its output. */
export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(args, options).result;
}

/** The non-empty lines of a command's output. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}
