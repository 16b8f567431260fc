import { canHashTag, type RedisClient } from '#libs/redis';
import type { BatchKeys } from './batch-keys.js';
import type { BatchView, ItemView, BatchTask } from '#libs/domain';
import { isAfterCursor, type BatchListCursor } from './batch-list-cursor.js';
import { toBatchView, toItemView } from './record-views.js';

const ITEM_PAGE_MAX = 1000;
/** Batches whose task a process keeps parsed: a worker runs items of a few batches at a time. */
const TASK_CACHE = 256;

/** Reading batches and items as the API shows them. */
export class BatchViews {
  /**
   * Tasks read, by batch id, the newest TASK_CACHE. A batch's task is written with the batch and never changed,
   * so an entry holds while the batch exists (an item of a batch since removed finds no record to run). Every
   * item of a batch read it again before (issue 17 §1: a command per item).
   */
  private readonly tasks = new Map<string, BatchTask>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: BatchKeys,
  ) {}

  async exists(id: string): Promise<boolean> {
    if (!canHashTag(id)) return false;
    return (await this.redis.exists(this.keys.batch(id))) === 1;
  }

  /**
   * The batch with `estimatedFinishAt`: the latest routing estimate among its open items (each set when the
   * item was routed at intake; a finished item leaves the set in its transition), null once none is open.
   */
  async get(id: string): Promise<BatchView | null> {
    if (!canHashTag(id)) return null; // a request's id that no batch can have
    const [[, h], [, latest]] = (await this.redis
      .multi()
      .hgetall(this.keys.batch(id))
      .zrange(this.keys.estimates(id), -1, -1, 'WITHSCORES')
      .exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
    return h.id ? withEstimate(toBatchView(h), latest) : null;
  }

  async task(id: string): Promise<BatchTask | null> {
    const cached = this.tasks.get(id);
    if (cached) return cached;
    const raw = await this.redis.hget(this.keys.batch(id), 'task');
    if (!raw) return null;
    const task = JSON.parse(raw) as BatchTask;
    this.tasks.set(id, task);
    if (this.tasks.size > TASK_CACHE) this.tasks.delete(this.tasks.keys().next().value!);
    return task;
  }

  /**
   * Newest first, then by id descending. `before`: where the previous page ended (its last batch's createdAt and
   * id); `tenant`: only its batches.
   */
  async list(limit: number, before?: BatchListCursor, tenant?: string): Promise<BatchView[]> {
    const index = tenant === undefined ? this.keys.index() : this.keys.tenantIndex(tenant);
    const older = this.redis.zrevrangebyscore(
      index,
      before === undefined ? '+inf' : `(${before.at}`,
      '-inf',
      'LIMIT',
      0,
      limit,
    );
    // Those created in the cursor's own millisecond after it (by id): few, read whole.
    const ties =
      before?.id === undefined ? Promise.resolve([]) : this.redis.zrevrangebyscore(index, before.at, before.at);
    const [sameMs, earlier] = await Promise.all([ties, older]);
    const ids = [...sameMs.filter((id) => isAfterCursor(before!.at, id, before)), ...earlier].slice(0, limit);
    // Batches spread over a Cluster's slots: one round trip each (a pipeline must stay in one slot); the
    // batch's hash and its open estimates share its slot.
    const rows = await Promise.all(
      ids.map((id) =>
        this.redis.multi().hgetall(this.keys.batch(id)).zrange(this.keys.estimates(id), -1, -1, 'WITHSCORES').exec(),
      ),
    );
    return rows.flatMap((row) => {
      const h = (row?.[0]?.[1] ?? {}) as Record<string, string>;
      return h.id ? [withEstimate(toBatchView(h), (row?.[1]?.[1] ?? []) as string[])] : [];
    });
  }

  /** A page of a batch's items from `offset`, at most ITEM_PAGE_MAX whatever `limit` asks. */
  async items(batchId: string, offset: number, limit: number): Promise<ItemView[]> {
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    const end = Math.min(total, offset + Math.min(limit, ITEM_PAGE_MAX));
    // One batch's items share its slot, so one pipeline serves them on a Cluster too.
    const pipeline = this.redis.pipeline();
    for (let i = offset; i < end; i++) pipeline.hgetall(this.keys.item(batchId, i));
    const rows = (await pipeline.exec()) ?? [];
    return rows.map(([, h]) => toItemView(h as Record<string, string>));
  }

  /** Every item of a batch, a page at a time (items() caps a page), so a 10k-item batch never sits in memory. */
  async *eachItem(batchId: string, pageSize = 200): AsyncGenerator<ItemView> {
    const total = Number(await this.redis.hget(this.keys.batch(batchId), 'total'));
    for (let offset = 0; offset < total; offset += pageSize) {
      yield* await this.items(batchId, offset, pageSize);
    }
  }

  async item(batchId: string, index: number): Promise<ItemView | null> {
    const h = await this.redis.hgetall(this.keys.item(batchId, index));
    return h.status ? toItemView(h) : null;
  }
}

/** `latest`: ZRANGE … -1 -1 WITHSCORES of the batch's open estimates ([] when none). */
function withEstimate(view: BatchView, latest: string[]): BatchView {
  const open = view.counts.queued + view.counts.running > 0;
  return { ...view, estimatedFinishAt: open && latest.length === 2 ? new Date(Number(latest[1])).toISOString() : null };
}
