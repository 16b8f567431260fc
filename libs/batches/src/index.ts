// The face of libs/batches: what other libs, the apps and the tests use. Import it as '#libs/batches'.
export { BatchIntake, IdempotencyKeyReused, SubmissionRejected, type SubmitContext } from './batch-intake.js';
export { BatchErasure, type Erased } from './batch-erasure.js';
export {
  BatchStore,
  providerKey,
  type ItemReroute,
  type ItemSpent,
  type ItemTransition,
  type ItemUpdate,
  type LateCharge,
  type NewBatch,
  type NewItem,
} from './batch-store.js';
export {
  batchSubmissionSchema,
  checkSubmission,
  checkSubmissionCompiled,
  type SubmissionLimits,
} from './batch-submission.js';
export { cursorAfter, parseListCursor, type BatchListCursor } from './batch-list-cursor.js';
export { BatchesModule } from './batches.module.js';
export { BranchOutputs } from './branch-outputs.js';
export { BatchRetention, type RetentionPass } from './batch-retention.js';
export { measureBatchFinishes } from './batch-finish-metrics.js';
export { BatchCallbacks } from './batch-callbacks.js';
export { type BatchEventEntry } from './batch-events.js';
export { MAX_DEADLINE_DAYS, parseIsoDuration } from './deadline.js';
export { ROUTING_BACKLOG_MAX_AGE_MS } from './provider-backlog.js';
export { routableItem, taskKind, uncorrectedEstimate } from './item-estimate.js';
export { PromptTokens } from './prompt-tokens.js';
export { chatBodySchema } from './chat-submission.js';
export { batchLineSchema, parseBatchLines, CHAT_ENDPOINT, type LineError } from './openai/batch-lines.js';
export { parseCompletionWindow } from './openai/completion-window.js';
export { MAX_EXPIRES_AFTER_S, MIN_EXPIRES_AFTER_S, parseExpiresAfter } from './openai/expires-after.js';
export { OpenAIBatches, OpenAIRequestError, type OpenAIBatchLimits, type OpenAIFile } from './openai/openai-batches.js';
export { chatCompletionOf, openAIBatchOf, type OpenAIBatch } from './openai/openai-shapes.js';
