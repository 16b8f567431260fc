import type { DeviceMemory, ModelFootprint } from '#libs/domain';

export type { DeviceMemory, ModelFootprint } from '#libs/domain';
/**
 * How many sequences (items decoding at once) fit on a device. Pure arithmetic over numbers that the
 * engine's estimates (node-llama-cpp GgufInsights) and the device's memory state provide.
 */
export interface CapacityInput {
  device: DeviceMemory;
  footprint: ModelFootprint;
  /** Share of free memory we may take (default 0.9): headroom for fragmentation and other tenants. */
  utilization: number;
  /** Configured maximum; null for none. */
  cap: number | null;
  /** Bytes this pool already holds on the device (its weights and context), counted as available to it. */
  heldBytes?: number;
}

export interface CapacityPlan {
  sequences: number;
  fits: boolean;
  budgetBytes: number;
  modelBytes: number;
  contextBytes: number;
  /** Why this number: the binding constraint, with the figures. */
  reason: string;
}

/** No context on any engine we support goes beyond this many parallel sequences usefully. */
export const MAX_SEQUENCES = 256;

/** See DeviceMemory.cores. */
export const CPU_SEQUENCES_PER_CORE = 2;

export function planSequences(input: CapacityInput): CapacityPlan {
  const { device, footprint, utilization, cap } = input;
  const budgetBytes = Math.floor((device.freeBytes + (input.heldBytes ?? 0)) * utilization);
  const cpuBound = device.kind === 'cpu' && device.cores ? device.cores * CPU_SEQUENCES_PER_CORE : MAX_SEQUENCES;
  const upper = Math.min(cap ?? MAX_SEQUENCES, cpuBound, MAX_SEQUENCES);
  const need = (n: number) => footprint.modelBytes + footprint.contextBytes(n);
  if (need(1) > budgetBytes) {
    return {
      sequences: 0,
      fits: false,
      budgetBytes,
      modelBytes: footprint.modelBytes,
      contextBytes: footprint.contextBytes(1),
      reason: `does not fit: weights ${mib(footprint.modelBytes)} + one sequence ${mib(footprint.contextBytes(1))} > budget ${mib(budgetBytes)} (${Math.round(utilization * 100)}% of ${mib(device.freeBytes + (input.heldBytes ?? 0))} available ${device.kind === 'gpu' ? 'VRAM' : 'RAM'})`,
    };
  }
  // Largest n with need(n) <= budget; need is monotonic in n, so binary search.
  let lo = 1;
  let hi = Math.max(1, upper);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (need(mid) <= budgetBytes) lo = mid;
    else hi = mid - 1;
  }
  const bound =
    lo < upper
      ? 'memory'
      : cap !== null && upper === cap
        ? 'configured maximum'
        : device.kind === 'cpu' && upper === cpuBound
          ? 'CPU cores'
          : 'engine maximum';
  return {
    sequences: lo,
    fits: true,
    budgetBytes,
    modelBytes: footprint.modelBytes,
    contextBytes: footprint.contextBytes(lo),
    reason: `${lo} sequence(s), bound by ${bound}: weights ${mib(footprint.modelBytes)} + context ${mib(footprint.contextBytes(lo))} of budget ${mib(budgetBytes)}`,
  };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
