import type { CloudSpec, Downtime, Outage, ProviderBatchSpec, Resources } from './resources.js';
import {
  INTERACTIVE_MAX_ITEMS,
  KIND_MIX,
  RESTRICTED_MAX_ITEMS,
  MIXED_DEADLINES,
  SENSITIVITY_MIX,
  type WorkloadSpec,
} from './workload.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export interface Scenario {
  name: string;
  /** What it exercises, for the printed table. */
  about: string;
  resources: Resources;
  workload: WorkloadSpec;
}

/**
 * One GPU box running a local model (8 sequences of 30 tokens/s), a frontier API cleared to `internal`,
 * and a pricier, slower sovereign endpoint cleared to `confidential`. Prices are per 1M input/output
 * tokens; the local one is amortized hardware. The cloud consumers' concurrency is high enough that the
 * clouds' own capacity never binds outside outages (the bound assumes unlimited cloud parallelism).
 */
function resources(outages: { frontier?: Outage[]; sovereign?: Outage[] } = {}, downtimes: Downtime[] = []): Resources {
  const frontier: CloudSpec = {
    name: 'frontier',
    clearance: 'internal',
    latencyMs: 700,
    tokensPerSec: 90,
    configuredTokensPerSec: 80,
    concurrency: 128,
    price: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
    outages: outages.frontier ?? [],
  };
  const sovereign: CloudSpec = {
    name: 'sovereign',
    clearance: 'confidential',
    latencyMs: 1500,
    tokensPerSec: 45,
    configuredTokensPerSec: 45,
    concurrency: 64,
    price: { inputPerMTokUsd: 0.6, outputPerMTokUsd: 2.4 },
    outages: outages.sovereign ?? [],
  };
  return {
    local: {
      name: 'local',
      sequences: 8,
      tokensPerSec: 30,
      configuredTokensPerSec: 30,
      price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
      downtimes,
    },
    clouds: [frontier, sovereign],
    requestTimeoutMs: 30 * SECOND,
  };
}

/**
 * The frontier provider with its tiers as routes (issue 16 §4): flex at half price, slower per call, and out of
 * capacity ("resource unavailable") for a quarter of an hour twice in the three hours; its own Batch API at half
 * price, each provider batch taking 40 min at the median (from 20 min to 2 h 40 min, log-normal), 1% of its lines
 * failed by the provider. The operator configured an hour for it; routing counts on what it has measured once three
 * batches are done.
 */
export const FRONTIER_BATCH: ProviderBatchSpec = {
  expectedMs: HOUR,
  collectMs: 10 * SECOND,
  pollMs: MINUTE,
  durationSigma: 0.5,
  minFactor: 0.5,
  maxFactor: 4,
  lineFailureRate: 0.01,
};

function tieredResources(): Resources {
  const plain = resources();
  const [frontier, sovereign] = plain.clouds;
  const half = { inputPerMTokUsd: 0.075, outputPerMTokUsd: 0.3 };
  const flex: CloudSpec = {
    ...frontier,
    name: 'frontier.flex',
    latencyMs: 3000,
    tokensPerSec: 45,
    configuredTokensPerSec: 40,
    price: half,
    unavailable: [
      { fromMs: 40 * MINUTE, toMs: 55 * MINUTE },
      { fromMs: 2 * HOUR, toMs: 2 * HOUR + 15 * MINUTE },
    ],
  };
  const batch: CloudSpec = {
    ...frontier,
    name: 'frontier.batch',
    latencyMs: 40 * MINUTE,
    tokensPerSec: 1_000_000,
    configuredTokensPerSec: 1_000_000,
    concurrency: 100_000,
    price: half,
    providerBatch: FRONTIER_BATCH,
  };
  return { ...plain, clouds: [frontier, flex, batch, sovereign] };
}

const base: Omit<WorkloadSpec, 'seed'> = {
  durationMs: 3 * HOUR,
  tricklePerHour: 300,
  batchesPerHour: 6,
  batchSize: { median: 120, max: 600 },
  bursts: [],
  deadlines: MIXED_DEADLINES,
  sensitivity: SENSITIVITY_MIX,
  kinds: KIND_MIX,
  inputMedianTokens: 600,
  verbositySigma: 0.25,
};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'steady',
    about: 'batches and a trickle at a steady rate, mixed deadlines',
    resources: resources(),
    workload: { ...base, seed: 101, batchesPerHour: 8 },
  },
  {
    name: 'burst',
    about: 'three bursts of large batches over a light trickle',
    resources: resources(),
    workload: {
      ...base,
      seed: 202,
      tricklePerHour: 200,
      batchesPerHour: 1,
      batchSize: { median: 150, max: 800 },
      bursts: [
        { atMs: 30 * MINUTE, batches: 3 },
        { atMs: 90 * MINUTE, batches: 4 },
        { atMs: 150 * MINUTE, batches: 3 },
      ],
    },
  },
  {
    name: 'tight-deadlines',
    about: 'deadlines of seconds to an hour, small items',
    resources: resources(),
    workload: {
      ...base,
      seed: 303,
      durationMs: 2 * HOUR,
      tricklePerHour: 600,
      batchesPerHour: 30,
      batchSize: { median: 10, max: 120 },
      inputMedianTokens: 400,
      deadlines: [
        {
          minMs: 10 * SECOND,
          maxMs: 90 * SECOND,
          weight: 0.4,
          maxBatchItems: INTERACTIVE_MAX_ITEMS,
          maxRestrictedItems: RESTRICTED_MAX_ITEMS.interactive,
        },
        { minMs: 2 * MINUTE, maxMs: 10 * MINUTE, weight: 0.4, maxRestrictedItems: RESTRICTED_MAX_ITEMS.minutes },
        { minMs: 30 * MINUTE, maxMs: 60 * MINUTE, weight: 0.2 },
      ],
    },
  },
  {
    name: 'frontier-outage',
    about: 'the frontier API down for 30 min, then again for 5',
    resources: resources({
      frontier: [
        { fromMs: 40 * MINUTE, toMs: 70 * MINUTE },
        { fromMs: 120 * MINUTE, toMs: 125 * MINUTE },
      ],
    }),
    workload: { ...base, seed: 404, bursts: [{ atMs: 45 * MINUTE, batches: 4 }] },
  },
  {
    name: 'all-cloud-down',
    about: 'every cloud provider down for 20 min during a burst',
    resources: resources({
      frontier: [{ fromMs: 60 * MINUTE, toMs: 80 * MINUTE }],
      sovereign: [{ fromMs: 58 * MINUTE, toMs: 82 * MINUTE }],
    }),
    workload: { ...base, seed: 505, bursts: [{ atMs: 62 * MINUTE, batches: 5 }] },
  },
  {
    name: 'cold-start',
    about: 'the system starts with a burst of batches queued while the local model loads for 90 s',
    resources: resources({}, [{ fromMs: 0, toMs: 90 * SECOND }]),
    workload: { ...base, seed: 606, durationMs: 2 * HOUR, bursts: [{ atMs: 0, batches: 8 }] },
  },
  {
    name: 'rolling-restart',
    about: 'the local pool restarts every hour (loads of 30-120 s) and crash-loops for 10 min',
    resources: resources({}, [
      { fromMs: 20 * MINUTE, toMs: 20 * MINUTE + 45 * SECOND },
      { fromMs: 80 * MINUTE, toMs: 80 * MINUTE + 120 * SECOND },
      { fromMs: 110 * MINUTE, toMs: 120 * MINUTE, crashLoop: { cycleMs: 60 * SECOND } },
      { fromMs: 140 * MINUTE, toMs: 140 * MINUTE + 30 * SECOND },
    ]),
    workload: { ...base, seed: 707, batchesPerHour: 8 },
  },
  {
    name: 'cloud-tiers',
    about: 'the steady workload with the frontier provider selling flex and its Batch API at half price',
    resources: tieredResources(),
    workload: { ...base, seed: 101, batchesPerHour: 8 },
  },
];
