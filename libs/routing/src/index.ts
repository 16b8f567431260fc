// The face of libs/routing: what other libs, the apps and the tests use. Import it as '#libs/routing'.
export { callsOn, type ItemSplit, type SplittableItem } from './context-calls.js';
export { costOf, type Price } from './cost.js';
export { DEFER_MS, cannotMove, effectiveDeadline, lateDeferrals, type DeferralEntry } from './deferral.js';
export { EdfSequences, readyFrom } from './edf-schedule.js';
export { escalationSweep, type SweepEntry, type SweepMove } from './escalation-sweep.js';
export { FIT_DECAY, fitLatency, fitPoint, type FitSums, type LatencyFit } from './latency-fit.js';
export {
  BATCH_DURATIONS_KEPT,
  BATCH_ESCALATION_LEAD_MS,
  MIN_BATCH_SAMPLES,
  batchWindowMs,
  type BatchWindowQuestion,
} from './provider-batch-window.js';
export {
  CAPABILITIES,
  DEFAULT_ESCALATION_INTERVAL_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  RoutingPolicy,
  canServe,
  workTokens,
  workTokensOn,
  type Capability,
  type ComingCapacity,
  type ComingStatus,
  type PlannedRoute,
  type ProviderView,
  type QueuedWork,
  type RoutableItem,
  type RouteDecision,
  type RouteTarget,
  type RoutingState,
} from './routing-policy.js';
export { ewma, workTokensPerSecond } from './throughput-estimate.js';
export {
  RATIO_DECAY,
  TokenCalibration,
  ratioKey,
  type RatioSums,
  type TaskKind,
  type TokenCounts,
  type TokenDirection,
} from './token-calibration.js';
export { CHARS_PER_TOKEN, estimateTokens, inputTokensBound } from './token-estimate.js';
export { DEFAULT_PREEMPT_SLACK_MS, preemptible, preemptionVictim, type RunningLocalItem } from './preemption.js';
