import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { REDIS, type RedisClient } from '#libs/redis';
import { PoolRegistry } from '#libs/pools';
import { Public } from './access-decorators.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** Probes: open even when keys are required, so orchestrators need no secret. */
@Controller()
@Public()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
  ) {}

  /** The process is up. */
  @ApiDoc({ summary: 'The process is up', answer: { description: 'Up', json: 'Health' } })
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  /**
   * This API process can serve requests: RedisClient answers. Orchestrators use it for the API's readiness, so API
   * pods stay in the Service (batches readable, keys manageable) while the workers are still pending or
   * loading their models; /ready says whether the system as a whole can run work.
   */
  @ApiDoc({
    summary: 'This API process can serve requests (Redis answers)',
    answer: { description: 'Ready', json: 'ApiReady' },
    errors: { 503: 'Redis does not answer' },
  })
  @Get('ready/api')
  async apiReady() {
    if (!(await this.redisAnswers()))
      throw new ServiceUnavailableException({ statusCode: 503, status: 'not-ready', redis: false });
    return { status: 'ready', redis: true };
  }

  private async redisAnswers(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Ready to do work: Redis answers and at least one pool is consuming. */
  @ApiDoc({
    summary: 'The system can run work: Redis answers and a pool is consuming',
    answer: { description: 'Ready, with the consuming pools', json: 'Ready' },
    errors: { 503: 'Redis does not answer, or no pool is consuming' },
  })
  @Get('ready')
  async ready() {
    const redis = await this.redisAnswers();
    const pools = redis ? (await this.pools.live()).filter((p) => p.status === 'consuming') : [];
    const body = {
      redis,
      pools: pools.map((p) => ({ target: p.target, provider: p.provider, host: p.host, sequences: p.activeSequences })),
    };
    if (!redis || pools.length === 0) {
      throw new ServiceUnavailableException({ statusCode: 503, status: 'not-ready', ...body });
    }
    return { status: 'ready', ...body };
  }
}
