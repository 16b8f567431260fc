import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '#libs/redis/src/redis.module.js';
import { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import { Public } from './access-decorators.js';

/** Probes: open even when keys are required, so orchestrators need no secret. */
@Controller()
@Public()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
  ) {}

  /** The process is up. */
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  /** Ready to do work: Redis answers and at least one pool is consuming. */
  @Get('ready')
  async ready() {
    let redis = false;
    try {
      redis = (await this.redis.ping()) === 'PONG';
    } catch {
      redis = false;
    }
    const pools = redis ? (await this.pools.live()).filter((p) => p.status === 'consuming') : [];
    const body = { redis, pools: pools.map((p) => ({ target: p.target, provider: p.provider, host: p.host, sequences: p.activeSequences })) };
    if (!redis || pools.length === 0) {
      throw new ServiceUnavailableException({ statusCode: 503, status: 'not-ready', ...body });
    }
    return { status: 'ready', ...body };
  }
}
