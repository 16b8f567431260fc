import type { Sensitivity } from '#libs/domain';

/** One request about to leave for a cloud provider, or one it refused: ids and labels, never content. */
export interface EgressRecord {
  provider: string;
  /** The model the request names: which model the item's text went to. */
  model: string;
  /** The provider's clearance. */
  clearance: Sensitivity;
  /** The item's sensitivity. */
  sensitivity: Sensitivity;
  /** The CompletionRequest's itemRef (the job id: `<batchId>.<index>`, `.r<n>` after a reroute). */
  itemRef: string;
  /** 1 for the first request of a completion, 2 for its first retry, … */
  attempt: number;
  at: string;
}

/**
 * Lets a CloudProvider report what leaves without knowing where reports go (the worker sends them to
 * the audit trail in Redis; the provider stays free of Redis).
 */
export interface EgressAudit {
  /**
   * Awaited right before each HTTP request, retries included. If it rejects, the request is not sent
   * (retryable error 'audit_unavailable'): nothing leaves unrecorded.
   */
  beforeRequest(record: EgressRecord): Promise<void>;
  /** An item above the provider's clearance was refused before any I/O. */
  refused(record: EgressRecord & { reason: string }): Promise<void>;
}
