import { defineScript, globalKeyPrefix, redisScript, type RedisClient, type ScriptCall } from '#libs/redis';
import type { ScheduleDefinition, ScheduleRun } from './schedule-types.js';

/** Runs kept per schedule (newest first). */
const RUNS_KEPT = 100;

/**
 * KEYS: definition, index. ARGV: the definition's JSON, its name, the tenant it must belong to ('' for none).
 * Writes it unless the name holds another tenant's schedule; 1 if written.
 */
const SAVE_IF_OWNED = redisScript<'definition' | 'index', [string, string, string], number>({
  name: 'switchyardScheduleSaveIfOwned',
  keys: ['definition', 'index'],
  lua: `
local current = redis.call('GET', KEYS[1])
if current then
  local tenant = cjson.decode(current).tenant
  if tenant == nil or tenant == cjson.null then tenant = '' end
  if tenant ~= ARGV[3] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
`,
});

/** Schedule definitions, their runs, and the input hashes of the files their runs migrated. */
export class ScheduleStore {
  private readonly saveIfOwned: ScriptCall<'definition' | 'index', [string, string, string], number>;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.saveIfOwned = defineScript(redis, SAVE_IF_OWNED);
  }

  /**
   * Writes the definition. With `ownedBy` (a tenant's key), only where the name is free or already that tenant's,
   * checked and written in one step: two tenants creating one name at once would otherwise both pass a check made
   * before, and the second write would take the first tenant's schedule. Returns whether it was written.
   */
  async save(def: ScheduleDefinition, ownedBy?: string | null): Promise<boolean> {
    if (ownedBy === undefined) {
      await this.redis.multi().set(this.key(def.name), JSON.stringify(def)).sadd(this.indexKey(), def.name).exec();
      return true;
    }
    const written = await this.saveIfOwned({ definition: this.key(def.name), index: this.indexKey() }, [
      JSON.stringify(def),
      def.name,
      ownedBy ?? '',
    ]);
    return written === 1;
  }

  async get(name: string): Promise<ScheduleDefinition | null> {
    const raw = await this.redis.get(this.key(name));
    return raw ? (JSON.parse(raw) as ScheduleDefinition) : null;
  }

  async list(): Promise<ScheduleDefinition[]> {
    const names = (await this.redis.smembers(this.indexKey())).sort();
    if (names.length === 0) return [];
    const rows = await this.redis.mget(names.map((n) => this.key(n)));
    return rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as ScheduleDefinition);
  }

  async delete(name: string): Promise<boolean> {
    const pending = await this.redis.smembers(this.pendingKey(name));
    const [[, removed]] = (await this.redis
      .multi()
      .del(this.key(name))
      .srem(this.indexKey(), name)
      .del(
        this.runsKey(name),
        this.hashesKey(name),
        this.pendingKey(name),
        ...pending.map((b) => this.pendingHashesKey(name, b)),
      )
      .exec()) as [[Error | null, number]];
    return removed === 1;
  }

  /**
   * Claims a slot once: a firing job re-run after a crash finds its slot taken and creates nothing.
   * Returns false when the slot was already claimed.
   */
  async claimSlot(name: string, slot: number): Promise<boolean> {
    return (await this.redis.set(`${this.key(name)}:slot:${slot}`, '1', 'PX', 7 * 86_400_000, 'NX')) === 'OK';
  }

  async addRun(name: string, run: ScheduleRun): Promise<void> {
    await this.redis
      .multi()
      .lpush(this.runsKey(name), JSON.stringify(run))
      .ltrim(this.runsKey(name), 0, RUNS_KEPT - 1)
      .exec();
  }

  async runs(name: string): Promise<ScheduleRun[]> {
    return (await this.redis.lrange(this.runsKey(name), 0, RUNS_KEPT - 1)).map((r) => JSON.parse(r) as ScheduleRun);
  }

  /** path → input hash (instruction and content) of each file whose item completed in an earlier run. */
  async fileHashes(name: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.hashesKey(name));
  }

  /** Forgets remembered hashes of paths the repository no longer has (deleted, renamed, or no longer selected). */
  async forgetFileHashes(name: string, paths: readonly string[]): Promise<void> {
    if (paths.length > 0) await this.redis.hdel(this.hashesKey(name), ...paths);
  }

  /**
   * The input hashes of the files a run submitted, kept until its batch finishes: only then is it known
   * which completed (and may be skipped next time) and which failed (and must be retried).
   */
  async holdFileHashes(name: string, batchId: string, hashes: Record<string, string>): Promise<void> {
    if (Object.keys(hashes).length === 0) return;
    await this.redis
      .multi()
      .hset(this.pendingHashesKey(name, batchId), hashes)
      .sadd(this.pendingKey(name), batchId)
      .exec();
  }

  /** Batches of this schedule whose file hashes are held, waiting for the batch to finish. */
  async heldBatches(name: string): Promise<string[]> {
    return this.redis.smembers(this.pendingKey(name));
  }

  async heldFileHashes(name: string, batchId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.pendingHashesKey(name, batchId));
  }

  /** Remembers the hashes of a finished batch's completed files and drops what was held for it, together. */
  async settleFileHashes(name: string, batchId: string, completed: Record<string, string>): Promise<void> {
    const multi = this.redis.multi();
    if (Object.keys(completed).length > 0) multi.hset(this.hashesKey(name), completed);
    await multi.del(this.pendingHashesKey(name, batchId)).srem(this.pendingKey(name), batchId).exec();
  }

  // Global records, one slot on a Redis Cluster: the MULTIs and MGET here span a schedule's keys and the index.
  private key(name: string): string {
    return `${globalKeyPrefix(this.prefix)}:schedule:${name}`;
  }
  private indexKey(): string {
    return `${globalKeyPrefix(this.prefix)}:schedules`;
  }
  private runsKey(name: string): string {
    return `${this.key(name)}:runs`;
  }
  private hashesKey(name: string): string {
    return `${this.key(name)}:hashes`;
  }
  private pendingKey(name: string): string {
    return `${this.key(name)}:held`;
  }
  private pendingHashesKey(name: string, batchId: string): string {
    return `${this.key(name)}:held:${batchId}`;
  }
}
