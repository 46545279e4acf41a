import { bulkrun, readyOn, type Sampled } from "../bench/processes.ts";

/** `bulkrun worker` processes that get killed and replaced while actions run. */
export class Fleet {
  kills = 0;
  /** Workers that exited without being told to: a runner must never crash. */
  readonly crashes: string[] = [];
  private readonly workers = new Set<Sampled>();
  private readonly stopping = new WeakSet<Sampled>();

  constructor(
    private readonly url: string,
    private readonly env: Record<string, string>,
  ) {}

  get size(): number {
    return this.workers.size;
  }

  /** Starts a worker and waits until it runs jobs. */
  async spawn(): Promise<void> {
    const worker = bulkrun(["worker"], this.url, this.env);
    this.workers.add(worker);
    void worker.done.then(({ code, stderr }) => {
      this.workers.delete(worker);
      if (!this.stopping.has(worker)) this.crashes.push(`worker pid ${worker.child.pid} exited by itself (code ${code}):\n${stderr.slice(-2000)}`);
    });
    await readyOn(worker, /running \(pid/);
  }

  /** Kills one worker at random with `signal` and starts another in its place. */
  async killOne(signal: NodeJS.Signals, random: () => number): Promise<void> {
    const all = [...this.workers];
    const victim = all[Math.floor(random() * all.length)];
    if (!victim) return;
    this.stopping.add(victim);
    victim.child.kill(signal);
    const { code, stderr } = await victim.done;
    if (signal !== "SIGKILL" && code !== 0) this.crashes.push(`worker pid ${victim.child.pid} exited ${code} after ${signal}:\n${stderr.slice(-2000)}`);
    this.kills++;
    await this.spawn();
  }

  /** Stops every worker with SIGTERM and waits for them. */
  async stop(): Promise<void> {
    const all = [...this.workers];
    for (const worker of all) {
      this.stopping.add(worker);
      worker.child.kill("SIGTERM");
    }
    await Promise.all(all.map((w) => w.done));
  }
}
