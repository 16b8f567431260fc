// The face of libs/audit: what other libs, the apps and the tests use. Import it as '#libs/audit'.
export { AUDIT_KINDS, type AuditEvent, type AuditKind, type AuditRecorder } from './audit-entry.js';
export { AuditTrail, isAuditKind } from './audit-trail.js';
export { AuditModule } from './audit.module.js';
export { EgressRecorder } from './egress-recorder.js';
