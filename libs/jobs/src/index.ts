// The face of libs/jobs: what other libs, the apps and the tests use. Import it as '#libs/jobs'.
export {
  BranchOutputError,
  DEFAULT_BRANCH_AUTHOR,
  checkOutputBranch,
  commitToNewBranch,
  type GitIdentity,
} from './code-migration/branch-output.js';
export { migrationInputHash } from './code-migration/content-hash.js';
export {
  IDENTIFIER,
  migrationInstruction,
  migrationTitle,
  presetInstruction,
} from './code-migration/migration-presets.js';
export { branchNameProblem, itemPathProblem } from './code-migration/repo-paths.js';
export { RepoSourceError, readRepoSource, type RepoFiles, type SkippedFiles } from './code-migration/repo-source.js';
export { chatAnswerOf, checkChatAnswer, type ChatAnswer } from './chat/chat-answer.js';
export { chatAnswerSchema, chatBodyOf, chatBodyTokens, chatPrompt } from './chat/chat-prompt.js';
export { compileProblem } from './document-processing/schema-compile-thread.js';
export { MAX_SCHEMA_BYTES, schemaRefusal } from './document-processing/schema-limits.js';
export { UnsupportedSchemaError } from './document-processing/structured-output.js';
export { promptFor } from './item-prompt.js';
export { runItem, type ItemRunOutcome } from './item-run.js';
export { itemSplit } from './item-split.js';
export { CallTally, type ItemModel } from './model-calls.js';
export { promptInputBound, type Prompt } from './prompt.js';
