// The face of libs/pools: what other libs, the apps and the tests use. Import it as '#libs/pools'.
export { CircuitRegistry } from './circuit-registry.js';
export {
  MIN_DERIVED_GRACE_MS,
  modelCapacity,
  poolGraceMs,
  supersededIn,
  type ModelCapacity,
  type PoolGraceConfig,
} from './coming-capacity.js';
export {
  engineConcurrency,
  engineContext,
  engineReading,
  parsePrometheus,
  parseSlots,
  readEngine,
  type EngineConcurrency,
  type EngineConcurrencyLimits,
  type EngineContext,
  type EngineReading,
} from './engine-capacity.js';
export { PoolRegistry, SEEN_RETENTION_MS, type PoolHeartbeat, type SeenPool } from './pool-registry.js';
export {
  ProviderBatchLedger,
  type LineSettlement,
  type OpenBatchUpdate,
  type OpenProviderBatch,
  type PendingLine,
} from './provider-batch-ledger.js';
export { ProviderCapabilities } from './provider-capabilities.js';
export { ProviderDirectory } from './provider-directory.js';
export { planSequences, type CapacityPlan, type DeviceMemory } from './sequence-capacity.js';
export { SequenceGovernor } from './sequence-governor.js';
export { TokenRateLimiter } from './token-rate-limiter.js';
