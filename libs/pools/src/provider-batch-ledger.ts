import type { Sensitivity, WorkItem } from '#libs/domain';
import { globalKeyPrefix, type RedisClient } from '#libs/redis';
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
}

/**
 * Where a batch tier's state lives in Redis, so it survives a worker crash: lines waiting to go, provider
 * batches open, and how long the route's recent provider batches took (what routing counts on, batchWindowMs).
 * All of a route's keys sit in the deployment's global slot, so a flush moves lines atomically on a Cluster too.
 */
export class ProviderBatchLedger {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(route: string, what: 'pending' | 'open' | 'durations'): string {
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

  /** Moves `lines` from pending into a new open record, in one transaction. */
  async open(route: string, batch: OpenProviderBatch): Promise<void> {
    const tx = this.redis.multi();
    tx.hset(this.key(route, 'open'), batch.flushId, JSON.stringify(batch));
    if (batch.lines.length > 0) tx.hdel(this.key(route, 'pending'), ...batch.lines.map((l) => l.customId));
    await tx.exec();
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
