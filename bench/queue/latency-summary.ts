/** One side of the queue bench: throughput with everything added at once, and a lone item's latency. */
export interface Side {
  /** The median over the rounds. */
  itemsPerSec: number;
  p50Ms: number;
  p95Ms: number;
  /** Redis commands per item over the throughput phases (a script's inner commands included). */
  commandsPerItem: number;
  /** The ten commands most called per item over those phases, most first. */
  topCommandsPerItem: Record<string, number>;
  /** Switchyard only: CPU ms the worker and the API used per item over those phases. */
  workerCpuMsPerItem?: number;
  apiCpuMsPerItem?: number;
  /** CPU ms Redis used per item over those phases (the other side, idle meanwhile, adds its heartbeats). */
  redisCpuMsPerItem?: number;
  /**
   * CPU ms the bench's own process used per item over those phases: it hosts the double both sides call, and the
   * raw side's worker and queue; on Switchyard's side it polls the batches' status too.
   */
  benchCpuMsPerItem?: number;
}

export type SideName = 'raw' | 'switchyard';

/** One side's throughput phase in one round. */
export interface Throughput {
  itemsPerSec: number;
  /** Calls Redis ran during the phase, by command (INFO commandstats deltas). */
  commands: Record<string, number>;
  /** Switchyard only: CPU ms its worker and its API used during the phase. */
  workerCpuMs?: number;
  apiCpuMs?: number;
  /** CPU ms Redis and the bench's own process used during the phase. */
  redisCpuMs?: number;
  benchCpuMs?: number;
}

/** What a run measured: each round's phase of both sides, and the lone items' latencies, ms. */
export interface Comparison {
  rounds: Array<Record<SideName, Throughput>>;
  lone: Record<SideName, number[]>;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** The middle value (the mean of the two middle ones for an even count); NaN when there are none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** What each command's count grew by between two INFO commandstats readings (those that grew). */
export function commandDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, n]) => [name, n - (before[name] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

/** A round as the bench prints it while it runs: both sides' items/s and their ratio. */
export function summarizeRound(round: Record<SideName, Throughput>): {
  raw: number;
  switchyard: number;
  ratio: number;
} {
  return {
    raw: round3(round.raw.itemsPerSec),
    switchyard: round3(round.switchyard.itemsPerSec),
    ratio: round3(round.switchyard.itemsPerSec / round.raw.itemsPerSec),
  };
}

/**
 * The result: each side's median items/s, commands and CPU per item over all its phases, lone-item p50/p95;
 * `ratio`, the median of the rounds' own ratios (each of two phases run next to each other in time), so drift
 * in the machine's speed over the run cancels within a round instead of landing on one side.
 */
export function summarize(
  comparison: Comparison,
  itemsPerRound: number,
): { raw: Side; switchyard: Side; ratio: number; addedP95Ms: number; rounds: ReturnType<typeof summarizeRound>[] } {
  const { rounds, lone } = comparison;
  const side = (name: SideName): Side => {
    const phases = rounds.map((r) => r[name]);
    const items = itemsPerRound * phases.length;
    const commands: Record<string, number> = {};
    for (const p of phases) for (const [c, n] of Object.entries(p.commands)) commands[c] = (commands[c] ?? 0) + n;
    const total = Object.values(commands).reduce((a, b) => a + b, 0);
    const cpu = (ms: (p: Throughput) => number | undefined) =>
      phases.every((p) => ms(p) !== undefined) ? round3(phases.reduce((a, p) => a + ms(p)!, 0) / items) : undefined;
    const perItem = {
      workerCpuMsPerItem: cpu((p) => p.workerCpuMs),
      apiCpuMsPerItem: cpu((p) => p.apiCpuMs),
      redisCpuMsPerItem: cpu((p) => p.redisCpuMs),
      benchCpuMsPerItem: cpu((p) => p.benchCpuMs),
    };
    return {
      itemsPerSec: round3(median(phases.map((p) => p.itemsPerSec))),
      p50Ms: percentile(lone[name], 0.5),
      p95Ms: percentile(lone[name], 0.95),
      commandsPerItem: round3(total / items),
      topCommandsPerItem: Object.fromEntries(
        Object.entries(commands)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([c, n]) => [c, round3(n / items)]),
      ),
      ...Object.fromEntries(Object.entries(perItem).filter(([, ms]) => ms !== undefined)),
    };
  };
  const raw = side('raw');
  const switchyard = side('switchyard');
  return {
    raw,
    switchyard,
    ratio: round3(median(rounds.map((r) => r.switchyard.itemsPerSec / r.raw.itemsPerSec))),
    addedP95Ms: switchyard.p95Ms - raw.p95Ms,
    rounds: rounds.map(summarizeRound),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
