import type { Price } from '#libs/routing';
import { workTokens } from '#libs/routing';
import type { TaskKind } from '#libs/routing';
import type { Sensitivity } from '#libs/domain';

/** The local model pool: cleared for every sensitivity, cheap, and as fast as its hardware. */
export interface LocalPoolSpec {
  name: string;
  /** Sequences decoding at once. */
  sequences: number;
  /** True generation speed of one sequence, tokens/s: the simulator's ground truth. */
  tokensPerSec: number;
  /** What production assumes before it has measured anything (LOCAL_TOKENS_PER_SEC). */
  configuredTokensPerSec: number;
  price: Price;
  /**
   * Windows in which the pool consumes nothing (issue 19): its model loading at a start or after a clean
   * restart (what is running finishes first), or `crashLoop`: it crashes at once (what is running is lost and
   * runs again later) and keeps crashing, each load of `cycleMs` failing, until `toMs`.
   */
  downtimes?: readonly Downtime[];
}

export interface Downtime {
  fromMs: number;
  toMs: number;
  crashLoop?: { cycleMs: number };
}

/**
 * The local pool's own clock: milliseconds it was up in [0, t]. The bound's fluid machine runs on it, so the
 * capacity of [t1, t2] is sequences × (up(t2) − up(t1)): a relaxation that lets work pause over a downtime.
 */
export function upClock(local: LocalPoolSpec): (t: number) => number {
  const downs = local.downtimes ?? [];
  return (t) => t - downs.reduce((s, d) => s + Math.max(0, Math.min(t, d.toMs) - d.fromMs), 0);
}

/** A window during which every request to a provider fails after the request timeout. */
export interface Outage {
  fromMs: number;
  toMs: number;
}

export interface CloudSpec {
  name: string;
  clearance: Sensitivity;
  /** Network and time-to-first-token, per call (also what production is configured with). */
  latencyMs: number;
  tokensPerSec: number;
  configuredTokensPerSec: number;
  /** Requests in flight at once (the cloud consumer's concurrency); more wait in its FIFO queue. */
  concurrency: number;
  price: Price;
  outages: Outage[];
  /**
   * Windows in which the route answers at once that it has no capacity (flex's 429 "resource unavailable",
   * issue 16 §3): a request sent then is refused within `REFUSAL_MS`, and the route's circuit opens at once.
   */
  unavailable?: Outage[];
  /** A provider's own Batch API (issue 16 §3): items travel in provider batches, not requests. */
  providerBatch?: ProviderBatchSpec;
}

/**
 * How a simulated provider Batch API behaves. Each provider batch takes `latencyMs` (the CloudSpec's, the median)
 * times a log-normal factor of spread `durationSigma`, within [minFactor, maxFactor] of it; the runner sees it done
 * at its next poll. Lines failed by the provider (its error file) are `lineFailureRate` of them.
 */
export interface ProviderBatchSpec {
  /** CLOUD_PROVIDERS tiers.batch.expectedMs: what routing counts on before three batches were measured. */
  expectedMs: number;
  /** tiers.batch.collectMs: lines gathered before a file is uploaded. */
  collectMs: number;
  /** tiers.batch.pollMs: how often an open provider batch is asked for its status. */
  pollMs: number;
  durationSigma: number;
  minFactor: number;
  maxFactor: number;
  lineFailureRate: number;
}

/** How soon a route out of capacity refuses a request (a 429 answered at once). */
export const REFUSAL_MS = 300;

export interface Resources {
  local: LocalPoolSpec;
  clouds: CloudSpec[];
  /** A request to a provider that is down fails after this long. */
  requestTimeoutMs: number;
}

/** One work item as the simulator knows it: what the policy sees, plus the truth it does not. */
export interface SimItem {
  id: number;
  batch: number;
  arrivalAt: number;
  deadline: number;
  sensitivity: Sensitivity;
  /** Its task kind, under which production learns token ratios (TokenCalibration). */
  kind: TaskKind;
  inputTokens: number;
  /** Production's estimate from the prompt, before the model has run and before any correction. */
  expectedOutputTokens: number;
  /** What the model really generates (and what is billed). */
  outputTokens: number;
  /** Per-item speed and latency factors (≈1), drawn once so the simulator and the bound see the same durations. */
  speedFactor: number;
  latencyFactor: number;
}

/**
 * The bench's own clearance check, deliberately not libs/routing's isCleared: leaks and feasibility are
 * judged independently of the code under test.
 */
const RANK: Record<Sensitivity, number> = { public: 0, internal: 1, confidential: 2, restricted: 3 };

export function clearedFor(clearance: Sensitivity, sensitivity: Sensitivity): boolean {
  return RANK[clearance] >= RANK[sensitivity];
}

/** Generation-equivalent tokens the item really costs (prefill of its input plus its real output). */
export function actualWork(item: SimItem): number {
  return workTokens({ inputTokens: item.inputTokens, expectedOutputTokens: item.outputTokens });
}

/** Milliseconds one local sequence takes to run the item. */
export function localRunMs(item: SimItem, local: LocalPoolSpec): number {
  return (actualWork(item) / (local.tokensPerSec * item.speedFactor)) * 1000;
}

/**
 * Milliseconds a healthy cloud provider takes to answer the item, latency included. A provider batch route: the
 * fastest any of its batches can be (the offline bound's relaxation; the simulator draws each batch's duration).
 */
export function cloudRunMs(item: SimItem, cloud: CloudSpec): number {
  if (cloud.providerBatch) return cloud.latencyMs * cloud.providerBatch.minFactor;
  return cloud.latencyMs * item.latencyFactor + (actualWork(item) / (cloud.tokensPerSec * item.speedFactor)) * 1000;
}

/** The first outage a request over [start, start + runMs) runs into, if any. */
export function outageHit(cloud: CloudSpec, start: number, runMs: number): Outage | undefined {
  return cloud.outages.find((o) => start < o.toMs && start + runMs > o.fromMs);
}

/**
 * The earliest a request to `cloud` started at or after `from` completes, outages and refusals known in
 * advance (what an idle provider and a clairvoyant scheduler could do).
 */
export function earliestCloudFinish(item: SimItem, cloud: CloudSpec, from: number): number {
  const runMs = cloudRunMs(item, cloud);
  const refusing = (at: number) => cloud.unavailable?.find((o) => at >= o.fromMs && at < o.toMs);
  let start = from;
  for (;;) {
    const hit = outageHit(cloud, start, runMs) ?? refusing(start);
    if (!hit) return start + runMs;
    start = hit.toMs;
  }
}
