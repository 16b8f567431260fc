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
}

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

/** Milliseconds a healthy cloud provider takes to answer the item, latency included. */
export function cloudRunMs(item: SimItem, cloud: CloudSpec): number {
  return cloud.latencyMs * item.latencyFactor + (actualWork(item) / (cloud.tokensPerSec * item.speedFactor)) * 1000;
}

/** The first outage a request over [start, start + runMs) runs into, if any. */
export function outageHit(cloud: CloudSpec, start: number, runMs: number): Outage | undefined {
  return cloud.outages.find((o) => start < o.toMs && start + runMs > o.fromMs);
}

/**
 * The earliest a request to `cloud` started at or after `from` completes, outages known in advance
 * (what an idle provider and a clairvoyant scheduler could do).
 */
export function earliestCloudFinish(item: SimItem, cloud: CloudSpec, from: number): number {
  const runMs = cloudRunMs(item, cloud);
  let start = from;
  for (let hit = outageHit(cloud, start, runMs); hit; hit = outageHit(cloud, start, runMs)) start = hit.toMs;
  return start + runMs;
}
