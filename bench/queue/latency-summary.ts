/** One side of the queue bench: throughput with everything added at once, and a lone item's latency. */
export interface Side {
  itemsPerSec: number;
  p50Ms: number;
  p95Ms: number;
  /** Redis commands per item over the throughput phase (a script's inner commands included). */
  commandsPerItem: number;
  /** The ten commands most called per item over that phase, most first. */
  topCommandsPerItem: Record<string, number>;
  /** Switchyard only: CPU ms the worker and the API used per item over that phase. */
  workerCpuMsPerItem?: number;
  apiCpuMsPerItem?: number;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
