import { Controller, Get, Inject } from '@nestjs/common';
import { PoolRegistry, ProviderDirectory, supersededIn, type PoolHeartbeat } from '#libs/pools';
import { JobQueue, queueRefFor } from '#libs/queue';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** An engine pool's engine as it last reported itself, and the concurrency the worker runs on it from that. */
function engineView(p: PoolHeartbeat) {
  const { kind, host, reading, readAt } = p.engine!;
  return {
    kind,
    host,
    slots: reading?.slots ?? null,
    running: reading?.running ?? null,
    waiting: reading?.waiting ?? null,
    kvCacheUsage: reading?.kvUsage ?? null,
    // The context per request routing and the fit check use: the engine's own figure once read (engineContext).
    contextTokens: p.engine!.contextTokens ?? null,
    concurrency: p.activeSequences,
    readAt: iso(readAt),
  };
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/**
 * Live pools as their workers report them, with measured speed and the depth of their queue; pools that are
 * coming (loading, restarting) and gone (stopped beating, kept an hour) with their times; and each local
 * model's capacity as routing counts it (issue 19).
 */
// Declares no scope: admin by default (ApiKeyGuard).
@Controller('v1/pools')
export class PoolsController {
  constructor(
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
    @Inject(ProviderDirectory) private readonly directory: ProviderDirectory,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  @ApiDoc({
    summary:
      'Pools: live ones (device, memory, sequences, speed, queue depth), coming, gone; each local model’s capacity',
    answer: { description: 'Live, coming and gone pools, and capacity per local model', json: 'PoolList' },
  })
  @Get()
  async list() {
    const now = Date.now();
    const live = await this.pools.live(now);
    const liveIds = new Set(live.map((p) => p.id));
    const isComing = (p: PoolHeartbeat) => p.status === 'loading' || p.status === 'restarting';
    const pools = await Promise.all(
      live
        .filter((p) => !isComing(p))
        .map(async (p) => {
          const ref = queueRefFor(p.target, p.provider);
          const depth = this.jobs.has(ref) ? await this.jobs.depth(ref) : null;
          return {
            id: p.id,
            target: p.target,
            provider: p.provider,
            host: p.host,
            pid: p.pid,
            device: p.device,
            deviceNames: p.deviceNames,
            memory: p.memory,
            model: p.model,
            modelBytes: p.modelBytes,
            ...(p.chatWrapper && { chatWrapper: p.chatWrapper }),
            status: p.status,
            reason: p.reason,
            sequences: { max: p.sequences, active: p.activeSequences, busy: p.busy },
            tokensPerSec: await this.pools.throughput(p.target, p.provider),
            queue: p.queue,
            queueDepth: depth
              ? { waiting: depth.waiting + depth.prioritized + depth.delayed, active: depth.active }
              : null,
            lastSeen: iso(p.at),
            // What runs it: a model this worker loaded (node-llama-cpp), an engine the operator runs (issue 17 §4), an API.
            kind: p.engine ? 'engine' : p.target === 'local' ? 'node-llama-cpp' : 'api',
            ...(p.engine && { engine: engineView(p) }),
          };
        }),
    );
    const seen = await this.pools.seen(now);
    // A restart that a newer pool of the model has already replaced is over: it is not listed as coming.
    const superseded = supersededIn([...live, ...seen]);
    const who = (p: PoolHeartbeat) => ({ id: p.id, provider: p.provider, model: p.model, host: p.host, pid: p.pid });
    const coming = live
      .filter((p) => isComing(p) && !(p.status === 'restarting' && superseded(p)))
      .map((p) => ({
        ...who(p),
        status: p.status,
        reason: p.reason,
        // Loading: since the load started; restarting: since the pool stopped.
        since: iso(p.status === 'loading' ? p.startedAt : p.at),
        expectedReadyAt: iso(p.expectedReadyAt),
        lastSeen: iso(p.at),
      }));
    const gone = seen
      .filter((p) => !liveIds.has(p.id) && p.target === 'local')
      .map((p) => ({ ...who(p), status: 'gone' as const, lastStatus: p.status, lastSeen: iso(p.at) }));
    const models = (await this.directory.capacity(now)).map((c) => ({
      model: c.model,
      state: c.state,
      since: iso(c.since),
      readyAt: iso(c.readyAt),
      graceUntil: iso(c.graceUntil),
      loadMs: c.loadMs,
      graceMs: c.graceMs,
    }));
    return { pools, coming, gone, models };
  }
}
