// The face of libs/batches: what other libs, the apps and the tests use. Import it as '#libs/batches'.
export { BatchIntake, IdempotencyKeyReused, SubmissionRejected, type SubmitContext } from './batch-intake.js';
export {
  BatchStore,
  providerKey,
  type ItemReroute,
  type ItemSpent,
  type ItemTransition,
  type ItemUpdate,
  type NewBatch,
  type NewItem,
} from './batch-store.js';
export {
  checkSubmission,
  checkSubmissionCompiled,
  fieldErrors,
  type FieldError,
  type SubmissionLimits,
} from './batch-submission.js';
export { BatchesModule } from './batches.module.js';
export { BranchOutputs } from './branch-outputs.js';
export { MAX_DEADLINE_DAYS, parseIsoDuration } from './deadline.js';
export { routableItem, taskKind } from './item-estimate.js';
export { PromptTokens } from './prompt-tokens.js';
