// The face of libs/domain: what other libs, the apps and the tests use. Import it as '#libs/domain'.
export {
  BATCH_KINDS,
  CALLBACK_EVENTS,
  DOCUMENT_TASK_TYPES,
  ITEM_STATUSES,
  MIGRATION_PRESETS,
  type BatchKind,
  type BatchOrigin,
  type BatchStatus,
  type BatchTask,
  type ChatBody,
  type ChatItemInput,
  type ChatMessage,
  type ChatResponseFormat,
  type ChatTask,
  type BatchSubmission,
  type BatchView,
  type BranchOutputSpec,
  type BranchOutputStatus,
  type BranchOutputView,
  type CallbackEvent,
  type CallbackRequest,
  type CodeMigrationTask,
  type DocumentTask,
  type ItemCounts,
  type ItemPrivacy,
  type ItemRoute,
  type ItemStatus,
  type ItemView,
  type MigrationPreset,
  type RenameApiParams,
  type WorkItem,
  type AnsweredCall,
} from './batch-types.js';
export { ConfigError } from './config-error.js';
export { type DeviceMemory, type ModelFootprint } from './device-memory.js';
export { DEFAULT_BRANCH_AUTHOR, parseGitIdentity, type GitIdentity } from './git-identity.js';
export { type Price } from './price.js';
export { type RepoSource } from './repo-source.js';
export { type RouteTarget } from './route-target.js';
export { SENSITIVITY_LEVELS, isCleared, isSensitivity, sensitivityRank, type Sensitivity } from './sensitivity.js';
export { type TokenUsage } from './token-usage.js';
export { parseZonedTimestamp, type ZonedTimestamp } from './zoned-timestamp.js';
export { fieldErrors, fieldPath, type FieldError } from './field-errors.js';
export { MAX_JSON_DEPTH, jsonTooDeepAt } from './json-depth.js';
