export * from './audit-entry.js';
export * from './audit-trail.js';
