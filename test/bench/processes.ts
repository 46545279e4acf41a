import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** A bulkrun CLI process with its peak resident memory sampled from /proc. */
export interface Sampled {
  child: ChildProcess;
  /** Resolves with the exit code and the highest RSS seen, in MB. */
  done: Promise<{ code: number; peakRssMb: number; stdout: string; stderr: string }>;
}

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `bulkrun <args>` on `databaseUrl`, sampling its RSS every 100 ms. */
export function bulkrun(args: string[], databaseUrl: string, env: Record<string, string> = {}): Sampled {
  const child = spawn(process.execPath, ["--max-semi-space-size=4", "--import", "tsx", "runner/cli/entry.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let peak = 0;
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 100);
  const done = new Promise<{ code: number; peakRssMb: number; stdout: string; stderr: string }>((resolvePromise) => {
    child.on("exit", (code) => {
      clearInterval(sampler);
      resolvePromise({ code: code ?? 1, peakRssMb: peak, stdout, stderr });
    });
  });
  return { child, done };
}

/** Waits until the process prints a line matching `pattern` on stderr. */
export function readyOn(sampled: Sampled, pattern: RegExp): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    sampled.child.stderr!.on("data", (d) => {
      seen += d;
      if (pattern.test(seen)) resolvePromise();
    });
    sampled.child.on("exit", () => reject(new Error(`process exited before it was ready:\n${seen}`)));
  });
}
