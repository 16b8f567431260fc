import { metrics } from '#libs/metrics';
import { globalKeyPrefix, type RedisClient } from '#libs/redis';
import { AUDIT_KINDS, type AuditEntry, type AuditEvent, type AuditKind, type AuditRecorder } from './audit-entry.js';

export interface AuditTrailOptions {
  /**
   * Retention. null (the default): the stream is never trimmed — every entry stays until an operator
   * removes it. A number: XADD trims to about that many newest entries (MAXLEN ~, so Redis trims whole
   * macro-nodes cheaply; it may keep slightly more, never fewer).
   */
  maxEntries?: number | null;
  /**
   * Cloud providers the operator declared on premises: every entry for one of them says so
   * (`onPremises: true`), whoever recorded it, so a reader sees why restricted data may have gone there.
   */
  onPremisesProviders?: readonly string[];
}

export interface AuditQuery {
  batchId?: string;
  kind?: AuditKind;
  /** Only entries after this stream id (exclusive): the `next` of the previous page. */
  after?: string;
  limit: number;
  /** Stop at this id (inclusive); an export pins it at the start so it ends while writes go on. */
  until?: string;
  /** Most entries scanned for one page when a filter skips many (bounds one request's work). */
  maxScan?: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Cursor for the next page (pass as `after`); null when the end of the stream was reached. */
  next: string | null;
}

/** Entries read from Redis per XRANGE while scanning. */
const SCAN_CHUNK = 500;
const DEFAULT_MAX_SCAN = 20_000;
const FIELDS = [
  'kind',
  'batchId',
  'index',
  'itemId',
  'target',
  'provider',
  'model',
  'clearance',
  'onPremises',
  'sensitivity',
  'reason',
  'attempt',
  'eventId',
  'httpStatus',
  'at',
] as const;

/**
 * The audit trail: an append-only Redis stream (`{<prefix>:sy}:audit`: the global hash slot on a Redis Cluster). Entries are only ever added (XADD)
 * and read (XRANGE); nothing in Switchyard edits or deletes one. Readers page by stream id, filtering
 * by batch and kind as they scan.
 */
export class AuditTrail implements AuditRecorder {
  readonly key: string;
  private readonly maxEntries: number | null;
  private readonly onPremises: ReadonlySet<string>;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    opts: AuditTrailOptions = {},
  ) {
    this.key = `${globalKeyPrefix(prefix)}:audit`;
    this.maxEntries = opts.maxEntries ?? null;
    this.onPremises = new Set(opts.onPremisesProviders ?? []);
    metrics.auditKindsExpected(AUDIT_KINDS);
  }

  /** Appends events in one round trip, in order. Rejects if Redis did not take them all. */
  async record(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    // One event (each cloud call's egress) is one XADD: an ioredis pipeline copies every defined script onto
    // itself when made, about a third of this call's CPU in the worker's profile (issue 17 §1).
    if (events.length === 1) {
      await this.redis.xadd(this.key, ...this.xaddArgs(events[0])).catch((err: unknown) => this.failed(events, err));
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const event of events) pipeline.xadd(this.key, ...this.xaddArgs(event));
    const results = (await pipeline.exec().catch((err: unknown) => this.failed(events, err))) ?? [];
    const failed = results.find(([err]) => err);
    if (failed || results.length !== events.length)
      this.failed(events, failed?.[0] ?? new Error('audit trail: not every entry was written'));
  }

  /** XADD's arguments after the key: the trim, if any, the id and the event's fields. */
  private xaddArgs(event: AuditEvent): [string, ...string[]] {
    const declared = event.target === 'cloud' && this.onPremises.has(event.provider);
    const fields = toFields(declared ? { ...event, onPremises: true } : event);
    return this.maxEntries === null ? ['*', ...fields] : ['MAXLEN', '~', String(this.maxEntries), '*', ...fields];
  }

  /** Counted by kind (switchyard_audit_write_failures_total), then rethrown: the caller must not go on unaudited. */
  private failed(events: AuditEvent[], err: unknown): never {
    for (const event of events) metrics.auditWriteFailed(event.kind);
    throw err;
  }

  /** One page of entries in stream order, filtered. */
  async page(q: AuditQuery): Promise<AuditPage> {
    const maxScan = q.maxScan ?? DEFAULT_MAX_SCAN;
    const entries: AuditEntry[] = [];
    let cursor = q.after;
    let scanned = 0;
    for (;;) {
      const chunk = Math.min(SCAN_CHUNK, q.batchId || q.kind ? SCAN_CHUNK : q.limit - entries.length);
      const raw = await this.redis.xrange(this.key, cursor ? `(${cursor}` : '-', q.until ?? '+', 'COUNT', chunk);
      for (const [id, fields] of raw) {
        cursor = id;
        scanned += 1;
        const entry = fromFields(id, fields);
        if ((q.batchId && entry.batchId !== q.batchId) || (q.kind && entry.kind !== q.kind)) continue;
        entries.push(entry);
        if (entries.length === q.limit) return { entries, next: id };
      }
      if (raw.length < chunk) return { entries, next: null };
      if (scanned >= maxScan) return { entries, next: cursor ?? null };
    }
  }

  /** Every matching entry up to the newest one now, a page at a time (for NDJSON export). */
  async *each(q: Omit<AuditQuery, 'limit' | 'until'>, pageSize = 500): AsyncGenerator<AuditEntry> {
    const newest = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
    if (newest.length === 0) return;
    const until = newest[0][0];
    let after = q.after;
    for (;;) {
      const page = await this.page({ ...q, after, until, limit: pageSize });
      yield* page.entries;
      if (page.next === null) return;
      after = page.next;
    }
  }

  /** Number of entries in the stream (all kinds, all batches). */
  async length(): Promise<number> {
    return this.redis.xlen(this.key);
  }
}

export function isAuditKind(value: string): value is AuditKind {
  return (AUDIT_KINDS as readonly string[]).includes(value);
}

function toFields(event: AuditEvent): string[] {
  const fields: string[] = [];
  for (const name of FIELDS) {
    const value = event[name];
    if (value !== undefined && value !== null) fields.push(name, String(value));
  }
  return fields;
}

function fromFields(id: string, flat: string[]): AuditEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]] = flat[i + 1];
  return {
    id,
    kind: f.kind as AuditKind,
    batchId: f.batchId,
    index: Number(f.index),
    ...(f.itemId !== undefined ? { itemId: f.itemId } : {}),
    target: f.target as AuditEntry['target'],
    provider: f.provider,
    ...(f.model !== undefined ? { model: f.model } : {}),
    ...(f.clearance !== undefined ? { clearance: f.clearance as AuditEntry['clearance'] } : {}),
    ...(f.onPremises !== undefined ? { onPremises: f.onPremises === 'true' } : {}),
    sensitivity: f.sensitivity as AuditEntry['sensitivity'],
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
    ...(f.attempt !== undefined ? { attempt: Number(f.attempt) } : {}),
    ...(f.eventId !== undefined ? { eventId: f.eventId } : {}),
    ...(f.httpStatus !== undefined ? { httpStatus: Number(f.httpStatus) } : {}),
    at: f.at,
  };
}
