import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How much of the machine's CPU went to processes outside this benchmark's process tree while a
 * measurement ran. On a 2-core machine shared with other work (builds, test runs), one compile
 * during a run halves the figure; with the engine's threads on every core, ggml's threads wait at
 * each barrier for the one that got descheduled. Linux /proc only; elsewhere it reports 0.
 */
export class CpuMeter {
  private constructor(private readonly start: Sample) {}

  static start(): CpuMeter {
    return new CpuMeter(sample());
  }

  /** Share of all cores' time used by other processes since start, 0..1. */
  otherShare(): number {
    const end = sample();
    const total = end.total - this.start.total;
    if (total <= 0) return 0;
    const other = end.busy - this.start.busy - (end.ours - this.start.ours);
    return Math.max(0, other / total);
  }
}

/** Waits (up to `maxMs`) for a 1 s window in which other processes use under `threshold` of the CPU. */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const meter = CpuMeter.start();
    await sleep(1000);
    const share = meter.otherShare();
    if (share < threshold || Date.now() > deadline) return share;
  }
}

interface Sample {
  /** All CPU time, every core, in clock ticks. */
  total: number;
  /** Non-idle CPU time, every core. */
  busy: number;
  /** CPU time of this process and its descendants (API, worker, redis-server). */
  ours: number;
}

function sample(): Sample {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = fields[3] + fields[4];
    return { total, busy: total - idle, ours: treeTicks(process.pid) };
  } catch {
    return { total: 0, busy: 0, ours: 0 };
  }
}

/** utime + stime of `root` and every live descendant, with what their reaped children used. */
function treeTicks(root: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state ppid ... utime(14) stime(15) cutime(16) cstime(17),
      // counted from 1. cutime/cstime: children already reaped — a tool run to completion within the
      // measurement (llama-batched-bench) is gone from the tree by its end, its time only there.
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
      stats.set(Number(entry), { ppid: Number(rest[1]), ticks });
    } catch {
      // exited while we looked
    }
  }
  let ticks = 0;
  const pending = [root];
  const seen = new Set<number>();
  while (pending.length) {
    const pid = pending.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    ticks += stats.get(pid)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === pid) pending.push(child);
  }
  return ticks;
}
