// The face of libs/access: what other libs, the apps and the tests use. Import it as '#libs/access'.
export { AccessModule } from './access.module.js';
export { SCOPES, allows, tenantScope, type Caller, type Requirement, type Scope } from './api-key.js';
export { ApiKeyAuthenticator, type AuthOutcome } from './api-key-authenticator.js';
export { ApiKeyStore } from './api-key-store.js';
export { KeyRateLimiter, effectiveLimits, type RateDecision } from './key-rate-limiter.js';
export { addressedToLoopback, listenPlan, writeFromAnotherSite } from './listen-address.js';
export { checkNewKey, newKeySchema } from './new-key.js';
export { ownerKeyGate } from './owner-key-gate.js';
export { submittedTokens } from './submitted-tokens.js';
