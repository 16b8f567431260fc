import type { Sensitivity } from '#libs/domain';
import type { PiiRules } from '#libs/privacy';
import type { ApiKeySource } from './api-key-source.js';
import type { EgressAudit } from './egress-audit.js';
import type { OutputLimitField } from './output-limit-field.js';

export interface CloudProviderOptions {
  /** Names the provider in errors and audit records. */
  name: string;
  /** Any OpenAI-compatible endpoint, including /v1: OpenAI, vLLM, llama.cpp server, the test double. */
  baseURL: string;
  /** A fixed key, or a source asked before every request (a key file re-read when it changes). */
  apiKey: string | ApiKeySource;
  model: string;
  /** Highest sensitivity this provider may receive. */
  clearance: Sensitivity;
  /**
   * Limit on one attempt. Without streaming it covers the whole answer; with streaming it is the
   * longest silence allowed between chunks, so a long answer that keeps flowing is not cut off.
   */
  timeoutMs: number;
  /** Further attempts after the first one, for 429, 408, 5xx, connection errors and timeouts. */
  maxRetries: number;
  /**
   * The model's context window in tokens (prompt plus answer), from configuration: the API does not
   * say. Longer inputs are split before they are sent (libs/jobs item-run).
   */
  contextTokens: number;
  stream?: boolean;
  /**
   * Sent as `service_tier` on every request (issue 16 §3): `flex` buys the model at batch prices, slower and
   * sometimes "resource unavailable" (a 429 that error-mapping tells apart as `tier_unavailable`). Absent: the
   * provider's default tier, and no `service_tier` in the request (servers other than OpenAI may refuse it).
   */
  serviceTier?: 'flex';
  /**
   * Limit on probe(): a provider that has not answered one token within it is not back
   * (CIRCUIT_PROBE_TIMEOUT_MS).
   */
  probeTimeoutMs?: number;
  /** Told right before every request leaves and of every refusal; a failure to record stops the request. */
  audit?: EgressAudit;
  /** What raises a request above its item's marking at egress (PII_RULES); the defaults when absent. */
  piiRules?: PiiRules;
  /** The answer's cap field the model takes, shared with the provider's other tiers; a fresh one when absent. */
  outputLimit?: OutputLimitField;
}

/** Throws, naming the provider and the option, when a number the provider relies on is out of range. */
export function checkCloudProviderOptions(opts: CloudProviderOptions): void {
  const wrong = (option: string, expected: string, got: unknown) =>
    new Error(`CloudProvider "${opts.name}": ${option} must be ${expected}, got ${String(got)}`);
  if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0) {
    throw wrong('timeoutMs', 'a positive integer', opts.timeoutMs);
  }
  if (!Number.isInteger(opts.maxRetries) || opts.maxRetries < 0) {
    throw wrong('maxRetries', 'a non-negative integer', opts.maxRetries);
  }
  const probe = opts.probeTimeoutMs;
  if (probe !== undefined && (!Number.isInteger(probe) || probe <= 0)) {
    throw wrong('probeTimeoutMs', 'a positive integer', probe);
  }
  if (!Number.isInteger(opts.contextTokens) || opts.contextTokens <= 0) {
    throw wrong('contextTokens', 'a positive integer', opts.contextTokens);
  }
}
