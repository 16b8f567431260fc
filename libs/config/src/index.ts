// The face of libs/config: what other libs, the apps and the tests use. Import it as '#libs/config'.
export {
  CHAT_WRAPPER_NAMES,
  loadConfig,
  type ChatWrapperName,
  type AppConfig,
  type CallbacksConfig,
  type CloudProviderConfig,
  type LocalEngineConfig,
  type LocalModelConfig,
  type QueueTuning,
} from './app-config.js';
export { BATCH_WINDOW_MS, CLOUD_TIERS, tierRouteName, type BatchTierSettings, type CloudTier } from './cloud-tiers.js';
export { ENGINE_KINDS, type EngineKind, type EnginePoolConfig } from './engine-pools.js';
export { loadLogConfig } from './log-config.js';
export { APP_CONFIG, ConfigModule } from './config.module.js';
export {
  describeTopology,
  parseHostPorts,
  type HostPort,
  type RedisAuth,
  type RedisConfig,
  type RedisTopology,
  type ReplicaWaitConfig,
} from './redis-topology.js';
