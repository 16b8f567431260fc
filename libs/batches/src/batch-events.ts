import type { RedisClient } from '#libs/redis';
import type { BatchKeys } from './batch-keys.js';

/**
 * One entry of a batch's event stream (written by the transition scripts): `id` is the stream entry id,
 * what an SSE client sends back as Last-Event-ID to resume after it.
 * - `item`: an item moved from one status to another (where it is routed: target, provider);
 * - `reroute`: an item moved to another provider (queued there), with the route's reason;
 * - `finished`: the batch's last open item finished (the reader adds the batch's final status).
 */
export interface BatchEventEntry {
  id: string;
  type: 'item' | 'reroute' | 'finished';
  index?: number;
  from?: string;
  to?: string;
  target?: string;
  provider?: string;
  reason?: string;
  at: string | null;
}

/** Reading a batch's event stream, after an entry id, blocking up to `blockMs` for new ones. */
export class BatchEvents {
  constructor(private readonly keys: BatchKeys) {}

  /**
   * Entries after `after` ('0-0': from the start), at most `count`; waits up to `blockMs` when there are
   * none (null: does not wait). `client` must be a connection of the caller's own: XREAD BLOCK holds it while waiting.
   */
  async read(
    client: RedisClient,
    batchId: string,
    after: string,
    blockMs: number | null,
    count = 100,
  ): Promise<BatchEventEntry[]> {
    const key = this.keys.events(batchId);
    const reply =
      blockMs === null
        ? await client.xread('COUNT', count, 'STREAMS', key, after)
        : await client.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, after);
    return (reply?.[0]?.[1] ?? []).map(([id, flat]) => toEntry(id, flat));
  }

  /** Whether `id` is the batch's `finished` entry: the id its final `status` event carries. */
  async isFinished(client: RedisClient, batchId: string, id: string): Promise<boolean> {
    const [entry] = await client.xrange(this.keys.events(batchId), id, id);
    return entry !== undefined && toEntry(entry[0], entry[1]).type === 'finished';
  }
}

function toEntry(id: string, flat: string[]): BatchEventEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]] = flat[i + 1];
  const at = f.at ? (/^\d+$/.test(f.at) ? new Date(Number(f.at)).toISOString() : f.at) : null;
  return {
    id,
    type: f.type as BatchEventEntry['type'],
    ...(f.index ? { index: Number(f.index) } : {}),
    ...(f.from ? { from: f.from } : {}),
    ...(f.to ? { to: f.to } : {}),
    ...(f.target ? { target: f.target } : {}),
    ...(f.provider ? { provider: f.provider } : {}),
    ...(f.reason ? { reason: f.reason } : {}),
    at,
  };
}
