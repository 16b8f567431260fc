import type { Sensitivity } from '#libs/domain';
import { Random } from './random.js';
import type { SimItem } from './resources.js';

/** A deadline range, relative to the batch's arrival; deadlines within it are log-uniform. */
export interface DeadlineBand {
  minMs: number;
  maxMs: number;
  weight: number;
  /** Largest submission that gets a deadline in this band (interactive deadlines come with small ones). */
  maxBatchItems?: number;
  /** Largest restricted submission that does: only the local pool may run it, and users know its size. */
  maxRestrictedItems?: number;
}

export type ItemKind = 'summarize' | 'classify' | 'extract' | 'code-migration';

export interface WorkloadSpec {
  seed: number;
  /** Arrivals happen in [0, durationMs); deadlines may run past it. */
  durationMs: number;
  /** Single-item submissions, a Poisson process. */
  tricklePerHour: number;
  /** Batches, a Poisson process over the duration. */
  batchesPerHour: number;
  /** Items per batch: log-normal around the median, at most max. */
  batchSize: { median: number; max: number };
  /** Several batches submitted within one minute, starting at `atMs`. */
  bursts: ReadonlyArray<{ atMs: number; batches: number }>;
  deadlines: ReadonlyArray<DeadlineBand>;
  sensitivity: Readonly<Record<Sensitivity, number>>;
  kinds: Readonly<Record<ItemKind, number>>;
  /** Median document size in tokens (the body of the size distribution; 5% come from a Pareto tail). */
  inputMedianTokens: number;
  /**
   * How far the deployment's model strays from production's output rules, per task kind: each kind's
   * answers run a factor longer or shorter (log-normal with this sigma, drawn once per workload, within
   * 0.6–1.6×), on top of each item's own spread. 0: the rules are right on average.
   */
  verbositySigma: number;
}

/** The deployment's MAX_OUTPUT_TOKENS. */
export const MAX_OUTPUT_TOKENS = 2048;
/** System prompt and instructions around every document, in tokens. */
const PROMPT_OVERHEAD_TOKENS = 40;

/** The largest submission that comes with an interactive (seconds) deadline. */
export const INTERACTIVE_MAX_ITEMS = 20;
/**
 * The largest restricted submissions with deadlines of seconds or minutes. Restricted data runs only on
 * the local pool, so a bigger one due that soon could not be met by any routing at all.
 */
export const RESTRICTED_MAX_ITEMS = { interactive: 5, minutes: 30 } as const;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Interactive, minutes, hours and next-day deadlines: the mix a shared inference queue sees. Seconds
 * are for someone waiting on a handful of documents; a batch of hundreds is due in minutes at the soonest.
 */
export const MIXED_DEADLINES: ReadonlyArray<DeadlineBand> = [
  {
    minMs: 10 * SECOND,
    maxMs: 90 * SECOND,
    weight: 0.1,
    maxBatchItems: INTERACTIVE_MAX_ITEMS,
    maxRestrictedItems: RESTRICTED_MAX_ITEMS.interactive,
  },
  { minMs: 2 * MINUTE, maxMs: 30 * MINUTE, weight: 0.3, maxRestrictedItems: RESTRICTED_MAX_ITEMS.minutes },
  { minMs: 1 * HOUR, maxMs: 8 * HOUR, weight: 0.35 },
  { minMs: 24 * HOUR, maxMs: 24 * HOUR, weight: 0.25 },
];

export const SENSITIVITY_MIX: Readonly<Record<Sensitivity, number>> = {
  public: 0.4,
  internal: 0.3,
  confidential: 0.2,
  restricted: 0.1,
};
export const KIND_MIX: Readonly<Record<ItemKind, number>> = {
  summarize: 0.45,
  classify: 0.2,
  extract: 0.2,
  'code-migration': 0.15,
};

interface BatchArrival {
  at: number;
  size: number;
}

/**
 * Items with arrival times, deadlines, sensitivities and sizes, deterministic for a seed. Every batch
 * shares one sensitivity and one deadline (as a production submission does); a trickle item is a
 * batch of one. Sizes are heavy-tailed: most documents are a page, a few are a book chapter.
 */
export function generateWorkload(spec: WorkloadSpec): SimItem[] {
  const root = new Random(spec.seed);
  const arrivals = batchArrivals(spec, root.fork('arrivals'));
  const batchDice = root.fork('batches');
  const itemDice = root.fork('items');
  const verbosityDice = root.fork('verbosity');
  const verbosity = Object.fromEntries(
    (['summarize', 'classify', 'extract', 'code-migration'] as const).map((k) => [
      k,
      clamp(verbosityDice.logNormal(1, spec.verbositySigma), 0.6, 1.6),
    ]),
  ) as Record<ItemKind, number>;
  const items: SimItem[] = [];
  arrivals.forEach((arrival, batch) => {
    const sensitivity = batchDice.pick(Object.entries(spec.sensitivity) as [Sensitivity, number][]);
    const bands = spec.deadlines.filter(
      (b) =>
        arrival.size <= (b.maxBatchItems ?? Infinity) &&
        (sensitivity !== 'restricted' || arrival.size <= (b.maxRestrictedItems ?? Infinity)),
    );
    const band = batchDice.pick(bands.map((b) => [b, b.weight] as const));
    const deadline = Math.round(arrival.at + batchDice.logUniform(band.minMs, band.maxMs));
    const kind = batchDice.pick(Object.entries(spec.kinds) as [ItemKind, number][]);
    const schemaTokens = batchDice.int(40, 200);
    for (let k = 0; k < arrival.size; k++) {
      const size = itemSize(kind, spec.inputMedianTokens, schemaTokens, verbosity[kind], itemDice);
      items.push({
        id: items.length,
        batch,
        arrivalAt: arrival.at,
        deadline,
        sensitivity,
        kind: kind === 'code-migration' ? 'migrate' : kind,
        ...size,
        speedFactor: itemDice.logNormal(1, 0.08),
        latencyFactor: itemDice.logNormal(1, 0.3),
      });
    }
  });
  return items;
}

function batchArrivals(spec: WorkloadSpec, dice: Random): BatchArrival[] {
  const arrivals: BatchArrival[] = [];
  const batchSize = () =>
    Math.min(spec.batchSize.max, Math.max(1, Math.round(dice.logNormal(spec.batchSize.median, 0.7))));
  const poisson = (perHour: number, size: () => number) => {
    if (perHour <= 0) return;
    for (let t = dice.exponential(HOUR / perHour); t < spec.durationMs; t += dice.exponential(HOUR / perHour)) {
      arrivals.push({ at: Math.round(t), size: size() });
    }
  };
  poisson(spec.tricklePerHour, () => 1);
  poisson(spec.batchesPerHour, batchSize);
  for (const burst of spec.bursts) {
    for (let b = 0; b < burst.batches; b++)
      arrivals.push({ at: Math.round(burst.atMs + dice.uniform(0, MINUTE)), size: batchSize() });
  }
  return arrivals.sort((a, b) => a.at - b.at);
}

/** Input tokens, production's output estimate for the task, and what the model really writes. */
function itemSize(kind: ItemKind, inputMedian: number, schemaTokens: number, verbosity: number, dice: Random) {
  const document =
    kind === 'code-migration'
      ? dice.logNormal(900, 0.8)
      : dice.next() < 0.95
        ? dice.logNormal(inputMedian, 0.9)
        : dice.pareto(4 * inputMedian, 1.2);
  const content = Math.round(Math.min(32_000, Math.max(16, document)));
  const inputTokens = content + PROMPT_OVERHEAD_TOKENS;
  // The estimates production makes in libs/jobs (summaries ~ a quarter of the source, a label, a JSON
  // object ~1.5x its schema, migrated code ~1.1x its source); the model then writes more or less: by its
  // verbosity for the kind, and each item by its own spread.
  const [expected, spread] =
    kind === 'summarize'
      ? [clamp(Math.ceil(content / 4), 32, MAX_OUTPUT_TOKENS), 0.35]
      : kind === 'classify'
        ? [8, 0.4]
        : kind === 'extract'
          ? [Math.min(MAX_OUTPUT_TOKENS, Math.ceil(schemaTokens * 1.5)), 0.3]
          : [Math.min(MAX_OUTPUT_TOKENS, Math.ceil(content * 1.1) + 16), 0.15];
  const outputTokens = Math.round(clamp(expected * verbosity * dice.logNormal(1, spread), 1, MAX_OUTPUT_TOKENS));
  return { inputTokens, expectedOutputTokens: expected, outputTokens };
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n));
}
