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

/**
 * KEYS: pending, batches, line-batches; ARGV: flushId, the record, then the lines' customIds. 1 opened, 0 a line
 * was gone. Each line's customId -> flushId goes into line-batches in the same step, so `holds` reads one field.
 */
const OPEN_BATCH = redisScript<'pending' | 'batches' | 'lineBatches', readonly string[], 0 | 1>({
  name: 'syProviderBatchOpen',
  keys: ['pending', 'batches', 'lineBatches'],
  lua: `
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
-- One field at a time: a provider batch holds up to 50,000 lines, past what unpack() can put on Lua's stack.
for i = 3, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[1])
end
return 1
`,
});

/**
 * KEYS: batches, legacy open records, the batch's settled lines; ARGV: flushId, customId, how it was settled.
 * 1: settled now; 0: settled before, or the batch is closed (a worker whose lease ran out, late), so nothing
 * leaves a key behind its batch and no line is settled twice.
 */
const SETTLE_LINE = redisScript<
  'batches' | 'legacy' | 'settled',
  readonly [flushId: string, customId: string, how: LineSettlement],
  0 | 1
>({
  name: 'syProviderBatchSettleLine',
  keys: ['batches', 'legacy', 'settled'],
  lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[3])
`,
});

/** KEYS: batches, legacy open records, the batch's state; ARGV: flushId, then field, value pairs. Open batches only. */
const NOTE_STATE = redisScript<'batches' | 'legacy' | 'state', readonly string[], 0 | 1>({
  name: 'syProviderBatchNoteState',
  keys: ['batches', 'legacy', 'state'],
  lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
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

/** How a line left its provider batch: `abandoned` when its item left while the provider still had the line. */
export type LineSettlement = 'settled' | 'abandoned';

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
  /** When it was last submitted: one whose submission failed is tried again a while after. */
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

/** What changes on an open provider batch besides its lines' settlements: a few small fields. */
export type OpenBatchUpdate = Partial<Pick<OpenProviderBatch, 'providerBatchId' | 'createdAt'>> & { cancelling?: true };

/**
 * An open batch's record as Redis keeps it: what does not change once opened, written once by `open`. Records
 * written before settlements had keys of their own (in the `open` hash) carry the rest of OpenProviderBatch too.
 */
type StoredBatch = Pick<OpenProviderBatch, 'flushId' | 'lines' | 'createdAt'> & Partial<OpenProviderBatch>;

/** HDEL's fields per command on close: a 50,000-line batch in a few commands of bounded size. */
const FIELDS_PER_HDEL = 10_000;

/**
 * Where a batch tier's state lives in Redis, so it survives a worker crash: lines waiting to go, provider
 * batches open, and how long the route's recent provider batches took (what routing counts on, batchWindowMs).
 * All of a route's keys sit in the deployment's global slot, so a flush moves lines atomically on a Cluster too.
 *
 * An open batch is its record (lines, written once), a small state hash (providerBatchId, createdAt,
 * cancelling) and a hash of its settled lines, one field per line; line-batches maps each line to its batch. A
 * settled line writes one field, not the batch's whole record: that rewrite was quadratic over 50,000 lines.
 */
export class ProviderBatchLedger {
  private readonly openScript;
  private readonly settleScript;
  private readonly noteScript;
  private readonly claimScript;
  private readonly releaseScript;
  /** Per route, the open records of the current layout this process has read, by flushId (openBatches). */
  private readonly opened = new Map<string, Map<string, StoredBatch>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.openScript = defineScript(redis, OPEN_BATCH);
    this.settleScript = defineScript(redis, SETTLE_LINE);
    this.noteScript = defineScript(redis, NOTE_STATE);
    this.claimScript = defineScript(redis, CLAIM_ROUND);
    this.releaseScript = defineScript(redis, RELEASE_ROUND);
  }

  /**
   * `open` holds records written before this layout (whole batches, settlements inside): still read, settled
   * and closed, so an upgrade with provider batches open loses none of them. New records go to `batches`.
   */
  private key(route: string, what: 'pending' | 'batches' | 'open' | 'line-batches' | 'durations' | 'round'): string {
    return `${globalKeyPrefix(this.prefix)}:provider-batch:${route}:${what}`;
  }

  private batchKey(route: string, flushId: string, what: 'state' | 'settled'): string {
    return `${globalKeyPrefix(this.prefix)}:provider-batch:${route}:batch:${flushId}:${what}`;
  }

  /** Idempotent: the same item coming again (a job run twice after a crash) keeps one line. False: it was there. */
  async addPending(route: string, line: PendingLine): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(route, 'pending'), line.customId, JSON.stringify(line))) === 1;
  }

  /**
   * Whether the line is waiting or in an open provider batch (a job run again after a crash finds it there):
   * two fields read, whatever the batches hold; records of the old layout are read only while some are open.
   */
  async holds(route: string, customId: string): Promise<boolean> {
    const replies = await this.redis
      .multi()
      .hexists(this.key(route, 'pending'), customId)
      .hexists(this.key(route, 'line-batches'), customId)
      .exists(this.key(route, 'open'))
      .exec();
    const [pending, inBatch, legacy] = (replies ?? []).map(([err, reply]) => {
      if (err) throw err;
      return reply;
    });
    if (pending === 1 || inBatch === 1) return true;
    if (legacy !== 1) return false;
    const records = await this.records(route, 'open');
    return records.some((b) => b.lines.some((l) => l.customId === customId));
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
    const record: StoredBatch = { flushId: batch.flushId, lines: batch.lines, createdAt: batch.createdAt };
    const opened = await this.openScript(
      {
        pending: this.key(route, 'pending'),
        batches: this.key(route, 'batches'),
        lineBatches: this.key(route, 'line-batches'),
      },
      [batch.flushId, JSON.stringify(record), ...batch.lines.map((l) => l.customId)],
    );
    return opened === 1;
  }

  /**
   * The line needs nothing more from its provider batch, marked in one step. True: settled now, by this call;
   * false: it was settled before, or its batch is closed — what settling does (moving its item, giving its
   * budget back) is then someone else's, done already.
   */
  async settle(route: string, flushId: string, customId: string, how: LineSettlement = 'settled'): Promise<boolean> {
    const settled = await this.settleScript(
      {
        batches: this.key(route, 'batches'),
        legacy: this.key(route, 'open'),
        settled: this.batchKey(route, flushId, 'settled'),
      },
      [flushId, customId, how],
    );
    return settled === 1;
  }

  /** Notes a change to an open batch (nothing, when it is closed). */
  async update(route: string, flushId: string, change: OpenBatchUpdate): Promise<void> {
    const fields = Object.entries(change).flatMap(([field, value]) =>
      value === undefined || value === null ? [] : [field, String(value)],
    );
    if (fields.length === 0) return;
    await this.noteScript(
      {
        batches: this.key(route, 'batches'),
        legacy: this.key(route, 'open'),
        state: this.batchKey(route, flushId, 'state'),
      },
      [flushId, ...fields],
    );
  }

  /**
   * The route's round (flush, polls, results) is run by one worker at a time: two workers settling the same
   * line would move its item twice and give its budget back twice. True: `owner` holds it now, for `ttlMs` from
   * now (taken, or renewed when it held it already); a worker that dies holding it frees it when the lease runs
   * out.
   */
  async claimRound(route: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.claimScript({ lease: this.key(route, 'round') }, [owner, String(ttlMs)])) === 1;
  }

  /** Gives the round back, if `owner` still holds it (a lease that ran out may be another worker's by now). */
  async releaseRound(route: string, owner: string): Promise<void> {
    await this.releaseScript({ lease: this.key(route, 'round') }, [owner]);
  }

  /**
   * The route's open provider batches, each with its state and settlements as of one moment. A record of the
   * current layout never changes once opened, so it is parsed once per process (`opened`) and each later round
   * reads only the batches' ids, state and settlements: a round every few seconds re-read and re-parsed every
   * open batch's lines (up to 50,000 bodies each) before.
   */
  async openBatches(route: string): Promise<OpenProviderBatch[]> {
    const records = [...(await this.currentRecords(route)), ...(await this.records(route, 'open'))];
    if (records.length === 0) return [];
    const tx = this.redis.multi();
    for (const { flushId } of records) {
      tx.hgetall(this.batchKey(route, flushId, 'state'));
      tx.hgetall(this.batchKey(route, flushId, 'settled'));
    }
    const replies = (await tx.exec()) ?? [];
    return records.map((record, i) => {
      const [stateErr, state] = replies[2 * i] as [Error | null, Record<string, string>];
      const [settledErr, marks] = replies[2 * i + 1] as [Error | null, Record<string, string>];
      if (stateErr || settledErr) throw stateErr ?? settledErr;
      return openBatch(record, state, marks);
    });
  }

  /**
   * The current layout's open records: ids listed each time, records read only for ids not seen before; an id
   * no longer listed (its batch closed) leaves the cache. Invalidation needs nothing more: a flushId is never
   * reused and its record is written once, by `open`.
   */
  private async currentRecords(route: string): Promise<StoredBatch[]> {
    const ids = await this.redis.hkeys(this.key(route, 'batches'));
    const known = this.opened.get(route) ?? new Map<string, StoredBatch>();
    const unseen = ids.filter((id) => !known.has(id));
    if (unseen.length > 0) {
      const values = await this.redis.hmget(this.key(route, 'batches'), ...unseen);
      // A record gone between the two reads was closed in between: not open any more.
      unseen.forEach((id, i) => values[i] !== null && known.set(id, JSON.parse(values[i]!) as StoredBatch));
    }
    const listed = new Set(ids);
    for (const id of known.keys()) if (!listed.has(id)) known.delete(id);
    this.opened.set(route, known);
    return ids.flatMap((id) => known.get(id) ?? []);
  }

  private async records(route: string, where: 'batches' | 'open'): Promise<StoredBatch[]> {
    const all = await this.redis.hvals(this.key(route, where));
    return all.map((v) => JSON.parse(v) as StoredBatch);
  }

  /**
   * The provider batch is done with: its record, state, settlements and its lines' entries go at once, and
   * (when it completed) how long it took is remembered.
   */
  async close(
    route: string,
    batch: Pick<OpenProviderBatch, 'flushId' | 'lines'>,
    tookMs: number | null,
  ): Promise<void> {
    const tx = this.redis.multi();
    tx.hdel(this.key(route, 'batches'), batch.flushId);
    tx.hdel(this.key(route, 'open'), batch.flushId);
    tx.del(this.batchKey(route, batch.flushId, 'state'), this.batchKey(route, batch.flushId, 'settled'));
    const ids = batch.lines.map((l) => l.customId);
    for (let i = 0; i < ids.length; i += FIELDS_PER_HDEL) {
      tx.hdel(this.key(route, 'line-batches'), ...ids.slice(i, i + FIELDS_PER_HDEL));
    }
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

/** One open batch from its record, its state and its settled lines (an old-layout record's own fields kept). */
function openBatch(
  record: StoredBatch,
  state: Record<string, string>,
  marks: Record<string, string>,
): OpenProviderBatch {
  const settled = new Set(record.settled ?? []);
  const abandoned = new Set(record.abandoned ?? []);
  for (const [customId, how] of Object.entries(marks)) {
    settled.add(customId);
    if (how === 'abandoned') abandoned.add(customId);
  }
  return {
    flushId: record.flushId,
    providerBatchId: state.providerBatchId ?? record.providerBatchId ?? null,
    lines: record.lines,
    createdAt: state.createdAt ? Number(state.createdAt) : record.createdAt,
    settled: [...settled],
    ...(abandoned.size > 0 && { abandoned: [...abandoned] }),
    ...((state.cancelling === 'true' || record.cancelling) && { cancelling: true }),
  };
}
