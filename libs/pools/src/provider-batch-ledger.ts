import type { Sensitivity, WorkItem } from '#libs/domain';
import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';
import { BATCH_DURATIONS_KEPT } from '#libs/routing';

/** One item's request, waiting to go into a provider batch (issue 16 §3). No text is logged from it. */
export interface PendingLine {
  /** The line's custom_id: `<batchId>:<index>:<reroutes>`, unique per time the item came to this route. */
  customId: string;
  batchId: string;
  index: number;
  /** The item's job id: the egress audit's itemRef. */
  itemRef: string;
  sensitivity: Sensitivity;
  /** The chat-completion body as it goes into the JSONL file. */
  body: Record<string, unknown>;
  /** The item as its job carried it: its answer is checked against it when the line comes back. */
  item: WorkItem;
  /** Epoch ms: near it, the line's item is moved to a synchronous route. */
  deadline: number;
  queuedAt: number;
  /** The worst case held in the batch's budget for this line until it is settled. */
  reservedUsd: number;
}

/** KEYS: pending, open; ARGV: flushId, the record, then the lines' customIds. 1 opened, 0 a line was gone. */
const OPEN_BATCH = redisScript<'pending' | 'open', readonly string[], 0 | 1>({
  name: 'syProviderBatchOpen',
  keys: ['pending', 'open'],
  lua: `
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
-- One field at a time: a provider batch holds up to 50,000 lines, past what unpack() can put on Lua's stack.
for i = 3, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return 1
`,
});

/** KEYS: the round's lease; ARGV: owner, ttl ms. 1: the owner holds it now. */
const CLAIM_ROUND = redisScript<'lease', readonly [owner: string, ttlMs: string], 0 | 1>({
  name: 'syProviderBatchClaimRound',
  keys: ['lease'],
  lua: `
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
});

const RELEASE_ROUND = redisScript<'lease', readonly [owner: string], 0>({
  name: 'syProviderBatchReleaseRound',
  keys: ['lease'],
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`,
});

/**
 * A provider batch as this worker fleet knows it: recorded (with its lines) before its file is uploaded, so a
 * worker that dies between upload and batches.create leaves a record another worker finds (by its flushId in
 * the provider batch's metadata) instead of lines lost or sent twice.
 */
export interface OpenProviderBatch {
  flushId: string;
  /** Null until batches.create answered. */
  providerBatchId: string | null;
  lines: PendingLine[];
  createdAt: number;
  /** Lines already settled (completed, moved off, cancelled): not settled again when the output comes. */
  settled: string[];
  /**
   * Settled lines the provider still had when their item left (escalated near its deadline, or cancelled):
   * the provider may finish and bill them before the batch ends or its cancel takes, so their answers, read
   * when it ends, are charged to their items (never recorded as results).
   */
  abandoned?: string[];
  /** Every line is settled and the provider was asked to cancel: waited on only to read what it billed. */
  cancelling?: boolean;
}

/**
 * Where a batch tier's state lives in Redis, so it survives a worker crash: lines waiting to go, provider
 * batches open, and how long the route's recent provider batches took (what routing counts on, batchWindowMs).
 * All of a route's keys sit in the deployment's global slot, so a flush moves lines atomically on a Cluster too.
 */
export class ProviderBatchLedger {
  private readonly openScript;
  private readonly claimScript;
  private readonly releaseScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.openScript = defineScript(redis, OPEN_BATCH);
    this.claimScript = defineScript(redis, CLAIM_ROUND);
    this.releaseScript = defineScript(redis, RELEASE_ROUND);
  }

  private key(route: string, what: 'pending' | 'open' | 'durations' | 'round'): string {
    return `${globalKeyPrefix(this.prefix)}:provider-batch:${route}:${what}`;
  }

  /** Idempotent: the same item coming again (a job run twice after a crash) keeps one line. False: it was there. */
  async addPending(route: string, line: PendingLine): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(route, 'pending'), line.customId, JSON.stringify(line))) === 1;
  }

  /** Whether the line is waiting or in an open provider batch (a job run again after a crash finds it there). */
  async holds(route: string, customId: string): Promise<boolean> {
    if ((await this.redis.hexists(this.key(route, 'pending'), customId)) === 1) return true;
    return (await this.openBatches(route)).some((b) => b.lines.some((l) => l.customId === customId));
  }

  async pending(route: string): Promise<PendingLine[]> {
    const all = await this.redis.hvals(this.key(route, 'pending'));
    return all.map((v) => JSON.parse(v) as PendingLine).sort((a, b) => a.queuedAt - b.queuedAt);
  }

  /**
   * Moves `lines` from pending into a new open record, at once — only if every one of them is still pending.
   * False: some other worker took a line into a provider batch of its own first (it read the same pending set),
   * and nothing changed, so no line goes to the provider twice.
   */
  async open(route: string, batch: OpenProviderBatch): Promise<boolean> {
    const opened = await this.openScript({ pending: this.key(route, 'pending'), open: this.key(route, 'open') }, [
      batch.flushId,
      JSON.stringify(batch),
      ...batch.lines.map((l) => l.customId),
    ]);
    return opened === 1;
  }

  /**
   * The route's round (flush, polls, results) is run by one worker at a time: two workers settling the same
   * line would move its item twice and give its budget back twice, and each `update` would overwrite the
   * other's. True: `owner` holds it now, for `ttlMs` from now (taken, or renewed when it held it already); a
   * worker that dies holding it frees it when the lease runs out.
   */
  async claimRound(route: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.claimScript({ lease: this.key(route, 'round') }, [owner, String(ttlMs)])) === 1;
  }

  /** Gives the round back, if `owner` still holds it (a lease that ran out may be another worker's by now). */
  async releaseRound(route: string, owner: string): Promise<void> {
    await this.releaseScript({ lease: this.key(route, 'round') }, [owner]);
  }

  async update(route: string, batch: OpenProviderBatch): Promise<void> {
    await this.redis.hset(this.key(route, 'open'), batch.flushId, JSON.stringify(batch));
  }

  async openBatches(route: string): Promise<OpenProviderBatch[]> {
    const all = await this.redis.hvals(this.key(route, 'open'));
    return all.map((v) => JSON.parse(v) as OpenProviderBatch);
  }

  /** The provider batch is done with: its record goes, and (when it completed) how long it took is remembered. */
  async close(route: string, flushId: string, tookMs: number | null): Promise<void> {
    const tx = this.redis.multi();
    tx.hdel(this.key(route, 'open'), flushId);
    if (tookMs !== null) {
      tx.lpush(this.key(route, 'durations'), String(Math.round(tookMs)));
      tx.ltrim(this.key(route, 'durations'), 0, BATCH_DURATIONS_KEPT - 1);
    }
    await tx.exec();
  }

  /** Durations of the route's recent provider batches, newest first. */
  async durations(route: string): Promise<number[]> {
    return (await this.redis.lrange(this.key(route, 'durations'), 0, BATCH_DURATIONS_KEPT - 1)).map(Number);
  }
}
