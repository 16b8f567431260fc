import { canHashTag, type RedisClient } from '#libs/redis';
import type { BatchKind, BatchView, CallbackEvent, Sensitivity } from '#libs/domain';
import type { BatchKeys } from './batch-keys.js';
import type { FieldError } from '#libs/domain';

/**
 * How long a failed expansion's record (its errors, no body) is kept. A pending body has no expiry: it was
 * answered 202, so it stays until a worker has expanded it, however long that takes (the intake sweep).
 */
const FAILED_TTL_S = 7 * 86_400;

/** A batch accepted on its validated body, before a worker has expanded it into items. */
export interface PendingIntake {
  id: string;
  /** The body as the API accepted it (JSON). */
  body: string;
  /** The idempotency key its id is claimed under (the client's, or one of the API's own). */
  idempotencyKey: string;
  /** Whether `idempotencyKey` is the API's own (dropped once the batch exists) rather than the client's. */
  ownKey: boolean;
  acceptedAt: number;
  tenant: string | null;
  requestId?: string;
  kind: BatchKind;
  sensitivity: Sensitivity;
  deadlineAt: number;
  total: number;
  /** The callback it was submitted with: a batch.finished is owed even if its expansion is refused. */
  callback?: { url: string; events: CallbackEvent[] };
}

/** A pending batch as readers see it: still `validating`, or `failed` with what its expansion refused. */
interface PendingState {
  intake: Omit<PendingIntake, 'body'>;
  failed: { at: number; errors: FieldError[] } | null;
}

/**
 * Batches accepted before their items exist (issue 17 §2): the API answers a large batch 202 once its body is
 * validated and stored here, and a worker routes, writes, audits and enqueues the items (BatchIntake.expand),
 * as OpenAI's Batch API answers `validating` first. One hash per batch, in the batch's slot; it goes once the
 * batch's records exist and its jobs are enqueued (`finish`), so a reader that finds neither finds nothing.
 */
export class PendingIntakes {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {}

  /**
   * Stores an accepted body (again: a retry of the same submission writes the same record). Listed for the
   * sweep first: in Redis Cluster the list and the record are in different slots, and a listed id without a
   * record is dropped by the sweep, while a record nobody lists could wait for ever.
   */
  async stage(p: PendingIntake): Promise<void> {
    const key = this.keys.intake(p.id);
    await this.redis.zadd(this.keys.pendingIntakes(), p.acceptedAt, p.id);
    await this.redis.hset(key, {
      id: p.id,
      body: p.body,
      idempotencyKey: p.idempotencyKey,
      ownKey: p.ownKey ? 1 : 0,
      acceptedAt: p.acceptedAt,
      kind: p.kind,
      sensitivity: p.sensitivity,
      deadlineAt: p.deadlineAt,
      total: p.total,
      ...(p.tenant ? { tenant: p.tenant } : {}),
      ...(p.requestId ? { requestId: p.requestId } : {}),
      ...(p.callback ? { callback: JSON.stringify(p.callback) } : {}),
    });
  }

  /**
   * Batches accepted and neither expanded nor failed yet, with when each was accepted (some may have just
   * finished, or be listed a moment before their record is written).
   */
  async listed(): Promise<Array<{ id: string; acceptedAt: number }>> {
    const flat = await this.redis.zrange(this.keys.pendingIntakes(), 0, -1, 'WITHSCORES');
    const out: Array<{ id: string; acceptedAt: number }> = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i], acceptedAt: Number(flat[i + 1]) });
    return out;
  }

  /** Drops an id from the sweep's list (its record is gone or failed). */
  async unlist(id: string): Promise<void> {
    await this.redis.zrem(this.keys.pendingIntakes(), id);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.intake(id))) === 1;
  }

  /** Whether a batch is pending (not failed), failed, or has no record, without reading its body. */
  async state(id: string): Promise<'pending' | 'failed' | null> {
    const [found, failedAt] = await this.redis.hmget(this.keys.intake(id), 'id', 'failedAt');
    return found === null ? null : failedAt === null ? 'pending' : 'failed';
  }

  /** The accepted body and its sender, or null when there is none (expanded already, or never staged). */
  async read(id: string): Promise<(PendingIntake & { failed: boolean }) | null> {
    const h = await this.redis.hgetall(this.keys.intake(id));
    if (!h.id || h.body === undefined) return h.id ? { ...fields(h).intake, body: '', failed: true } : null;
    return { ...fields(h).intake, body: h.body, failed: h.failedAt !== undefined };
  }

  /**
   * The expansion refused the body (it cannot be routed or written as sent): kept as `failed` with the errors,
   * without the body, for a week. It stays listed until what a failure owes (its callback) is enqueued: the
   * caller unlists it then, or the sweep does.
   */
  async fail(id: string, errors: FieldError[], now = Date.now()): Promise<void> {
    const key = this.keys.intake(id);
    await this.redis
      .multi()
      .hset(key, { failedAt: now, errors: JSON.stringify(errors) })
      .hdel(key, 'body')
      .expire(key, FAILED_TTL_S)
      .exec();
  }

  /**
   * The batch's records exist and its jobs are about to be enqueued: from here a cancel finds the batch itself
   * (requestCancel answers false), and whether one was asked for before comes back. One script with
   * requestCancel's, so a cancel lands either on the pending record before this or on the batch after it.
   */
  async seal(id: string): Promise<{ cancelRequested: boolean }> {
    const requested = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end redis.call('HSET', KEYS[1], 'written', '1') " +
        "if redis.call('HGET', KEYS[1], 'cancelRequested') == '1' then return 1 end return 0",
      1,
      this.keys.intake(id),
    );
    return { cancelRequested: requested === 1 };
  }

  /** The batch's jobs are enqueued: nothing is pending any more. */
  async finish(id: string): Promise<void> {
    await this.redis.del(this.keys.intake(id));
    await this.unlist(id);
  }

  /**
   * Asks that a pending batch be cancelled before its jobs are enqueued; false when there is no pending record
   * or its batch is written already (then the batch is cancelled as any other).
   */
  async requestCancel(id: string): Promise<boolean> {
    const set = await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[1], 'written') ~= '1' then " +
        "redis.call('HSET', KEYS[1], 'cancelRequested', '1') return 1 end return 0",
      1,
      this.keys.intake(id),
    );
    return set === 1;
  }

  /** A pending batch as the API shows it, or null when there is none. */
  async view(id: string): Promise<BatchView | null> {
    if (!canHashTag(id)) return null; // a request's id that no batch can have
    // Every field but the body (megabytes for a large batch), which a reader polling the batch never needs.
    const values = await this.redis.hmget(this.keys.intake(id), ...VIEW_FIELDS);
    const h: Record<string, string> = {};
    VIEW_FIELDS.forEach((name, i) => values[i] !== null && (h[name] = values[i]!));
    if (!h.id) return null;
    return pendingView(fields(h));
  }
}

/** The record's fields a view is built from (fields() reads them): all but `body`. */
const VIEW_FIELDS = [
  'id',
  'idempotencyKey',
  'ownKey',
  'acceptedAt',
  'tenant',
  'requestId',
  'kind',
  'sensitivity',
  'deadlineAt',
  'total',
  'callback',
  'failedAt',
  'errors',
] as const;

function fields(h: Record<string, string>): PendingState {
  return {
    intake: {
      id: h.id,
      idempotencyKey: h.idempotencyKey,
      ownKey: h.ownKey === '1',
      acceptedAt: Number(h.acceptedAt),
      tenant: h.tenant ?? null,
      requestId: h.requestId,
      kind: h.kind as BatchKind,
      sensitivity: h.sensitivity as Sensitivity,
      deadlineAt: Number(h.deadlineAt),
      total: Number(h.total),
      ...(h.callback ? { callback: JSON.parse(h.callback) as PendingIntake['callback'] } : {}),
    },
    failed: h.failedAt === undefined ? null : { at: Number(h.failedAt), errors: JSON.parse(h.errors ?? '[]') },
  };
}

/** No item exists yet: every count is 0 but the total the body holds. */
export function pendingView({ intake, failed }: PendingState): BatchView {
  return {
    id: intake.id,
    kind: intake.kind,
    status: failed ? 'failed' : 'validating',
    counts: { total: intake.total, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 },
    sensitivity: intake.sensitivity,
    deadline: new Date(intake.deadlineAt).toISOString(),
    routes: { local: 0, cloud: 0 },
    usage: { inputTokens: 0, outputTokens: 0 },
    cost: { usd: 0 },
    budget: null,
    createdAt: new Date(intake.acceptedAt).toISOString(),
    finishedAt: failed ? new Date(failed.at).toISOString() : null,
    tenant: intake.tenant,
    output: null,
    origin: null,
    estimatedFinishAt: null,
    callback: intake.callback ?? null,
    ...(failed ? { errors: failed.errors } : {}),
  };
}
