// The face of libs/providers: what other libs, the apps and the tests use. Import it as '#libs/providers'.
export { ApiKeyFile, type ApiKeySource } from './cloud/api-key-source.js';
export { CloudProvider } from './cloud/cloud-provider.js';
export { OutputLimitField } from './cloud/output-limit-field.js';
export { egressVerdict } from './cloud/egress-scan.js';
export { type EgressAudit, type EgressRecord } from './cloud/egress-audit.js';
export {
  FINAL_BATCH_STATUSES,
  ProviderBatchApi,
  type BatchLineRequest,
  type BatchLineResult,
  type ProviderBatchApiOptions,
  type ProviderBatchStatus,
} from './cloud/provider-batch-api.js';
export {
  ClearanceError,
  ProviderError,
  isAccountRefusal,
  isLongRateLimit,
  isRefusal,
  type ChatCall,
  type CompletionRequest,
  type CompletionResult,
  type InferenceProvider,
  type TokenUsage,
} from './completion.js';
export { keptEngineLog, type EngineLogger } from './local/engine-log.js';
export { describeDevice, estimateModel, type DeviceInfo, type ModelEstimate } from './local/local-engine.js';
export { LocalModelProvider, openLlama } from './local/local-model-provider.js';
export { disposeLlama, type LlamaDisposal } from './local/llama-disposal.js';
export { linkSignals, type LinkedSignal } from './local/linked-signal.js';
export { VocabTokenizers } from './local/vocab-tokenizers.js';
