import type { Sensitivity } from '#libs/domain';

/**
 * What the audit trail records:
 * - `route`: the route an item was given at intake;
 * - `reroute`: every later move (fallback, escalation, budget, invalid answers);
 * - `egress`: one request about to leave for a cloud provider (every attempt, retries included);
 * - `egress-refused`: a cloud provider refused an item above its clearance before any I/O;
 * - `callback`: one delivery attempt of a signed callback event (issue 15 §5): target `cloud` (it leaves
 *   the system), provider `callback:<host>`, with the event id, the answer's HTTP status (absent when none
 *   came) and, in reason, the outcome. `index` is the item's, or -1 for batch.finished;
 * - `erasure`: a batch erased on request (BatchErasure), written before anything is deleted: index -1, provider
 *   `switchyard`, the batch's sensitivity, and in reason how many items went.
 */
export const AUDIT_KINDS = ['route', 'reroute', 'egress', 'egress-refused', 'callback', 'erasure'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/**
 * One audit record. It names the item (batch, index, id), where it went and why — never content:
 * no item text, prompt, answer, instruction or key. `clearance` is the provider's, `sensitivity` the
 * item's as routed (after personal data raised it, if it did).
 */
export interface AuditEvent {
  kind: AuditKind;
  batchId: string;
  index: number;
  /** The item's id (document id or file path), when the recorder knows it. */
  itemId?: string;
  target: 'local' | 'cloud';
  provider: string;
  /** Egress: the model the request named, so a trail says which model saw an item (a provider may serve several). */
  model?: string;
  clearance?: Sensitivity;
  /** Present (true) on every entry for a cloud provider the operator declared on premises (issue 13 §6). */
  onPremises?: boolean;
  sensitivity: Sensitivity;
  reason?: string;
  /** Egress: which attempt of the provider's retries this request is (1 = the first). */
  attempt?: number;
  /** Callback: the event id delivered (the receiver's dedupe key). */
  eventId?: string;
  /** Callback: the HTTP status the receiver answered. */
  httpStatus?: number;
  /** ISO-8601 time the event happened. */
  at: string;
}

/** An event as read back: its stream id (`<ms>-<seq>`, increasing) is its cursor for paging. */
export interface AuditEntry extends AuditEvent {
  id: string;
}

/** Where a recorder sends events; AuditTrail is the real one, tests may pass an array-backed one. */
export interface AuditRecorder {
  record(events: AuditEvent[]): Promise<void>;
}
