import { Controller, Get, Inject } from '@nestjs/common';
import { PoolRegistry } from '#libs/pools';
import { JobQueue, queueRefFor } from '#libs/queue';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** Live pools as their workers report them, with measured speed and the depth of their queue. */
// Declares no scope: admin by default (ApiKeyGuard).
@Controller('v1/pools')
export class PoolsController {
  constructor(
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  @ApiDoc({
    summary: 'Live pools: device, memory, sequences, measured speed, queue depth',
    answer: { description: 'Every pool with a fresh heartbeat', json: 'PoolList' },
  })
  @Get()
  async list() {
    const live = await this.pools.live();
    const pools = await Promise.all(
      live.map(async (p) => {
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
          status: p.status,
          reason: p.reason,
          sequences: { max: p.sequences, active: p.activeSequences, busy: p.busy },
          tokensPerSec: await this.pools.throughput(p.target, p.provider),
          queue: p.queue,
          queueDepth: depth
            ? { waiting: depth.waiting + depth.prioritized + depth.delayed, active: depth.active }
            : null,
          lastSeen: new Date(p.at).toISOString(),
        };
      }),
    );
    return { pools };
  }
}
