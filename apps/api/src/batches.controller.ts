import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import type { Response } from 'express';
import { BatchIntake, BatchStore, type SubmitContext } from '#libs/batches';
import { type BatchView } from '#libs/domain';
import { tenantScope, type Caller } from '#libs/access';
import { effectiveLimits, KeyRateLimiter } from '#libs/access';
import { submittedTokens } from '#libs/access';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { overLimit } from './rate-limit.guard.js';
import { CurrentCaller, RequiresScope, SubmitsTokens } from './access-decorators.js';
import { boundedInt } from './query-params.js';
import { REDIS, waitForReplicas, type RedisClient } from '#libs/redis';

/**
 * The v1 batch API: submit, read, stream results, cancel. Enqueues and reads; never processes.
 * A key sees only its tenant's batches (another tenant's is a 404, so ids do not leak); admin sees all.
 */
@Controller('v1/batches')
export class BatchesController {
  constructor(
    @Inject(BatchIntake) private readonly intake: BatchIntake,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(KeyRateLimiter) private readonly limiter: KeyRateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
  ) {}

  @Post()
  @HttpCode(202)
  @RequiresScope('submit')
  @SubmitsTokens()
  async submit(
    @Body() body: unknown,
    @CurrentCaller() caller: Caller | null,
    @Res({ passthrough: true }) res: Response,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const key = idempotencyKey?.trim() || undefined;
    // Idempotency keys are per tenant: another tenant's identical key must not answer with this batch's id.
    const scopedKey = key && caller ? `tenant:${caller.tenant}:${key}` : key;
    const context = { tenant: caller?.tenant ?? null, chargeSource: this.sourceCharge(caller, res) };
    const { id, status, total } = await this.intake.submit(body, scopedKey, Date.now(), context);
    // The 202 is a promise that the batch survives losing this master (REDIS_WAIT_REPLICAS): the intake's last
    // write (after the jobs) is on this client, so WAIT here covers the batch, its items, routes and jobs.
    await waitForReplicas(this.redis, this.config.redis.wait);
    return { id, status, total };
  }

  @Post('quote')
  @RequiresScope('submit')
  @HttpCode(200)
  async quote(@Body() body: unknown, @CurrentCaller() caller: Caller | null) {
    // A quote reads a repository as a submission does: only one registered for the caller's tenant.
    const { total, decisions } = await this.intake.quote(body, Date.now(), { tenant: caller?.tenant ?? null });
    const local = decisions.filter((d) => d.target === 'local').length;
    return {
      total,
      routes: { local, cloud: total - local },
      atRisk: decisions.filter((d) => d.atRisk).length,
      estimatedCostUsd: Math.round(decisions.reduce((s, d) => s + d.estimatedCostUsd, 0) * 1e9) / 1e9,
      estimatedFinishAt: new Date(Math.max(...decisions.map((d) => d.estimatedFinishAt))).toISOString(),
    };
  }

  @Get()
  @RequiresScope('read')
  async list(@CurrentCaller() caller: Caller | null, @Query('limit') limit?: string, @Query('before') before?: string) {
    const beforeMs = before === undefined ? undefined : Date.parse(before);
    if (beforeMs !== undefined && Number.isNaN(beforeMs)) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        field: 'before',
        message: 'before must be a timestamp (the createdAt of an earlier page)',
      });
    }
    const batches = await this.store.list(boundedInt('limit', limit, 50, 1, 500), beforeMs, tenantScope(caller));
    return { batches, next: batches.length > 0 ? batches[batches.length - 1].createdAt : null };
  }

  @Get(':id')
  @RequiresScope('read')
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller | null): Promise<BatchView> {
    return this.visible(id, caller);
  }

  @Get(':id/items')
  @RequiresScope('read')
  async items(
    @Param('id') id: string,
    @CurrentCaller() caller: Caller | null,
    @Query('offset') offset?: string,
    @Query('limit') limit?: string,
  ) {
    const batch = await this.visible(id, caller);
    const from = boundedInt('offset', offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const items = await this.store.items(id, from, boundedInt('limit', limit, 100, 1, 1000));
    const next = from + items.length;
    return { items, total: batch.counts.total, nextOffset: next < batch.counts.total ? next : null };
  }

  /** One JSON line per item, read a page at a time so a 10k-item batch never sits in memory. */
  @Get(':id/results')
  @RequiresScope('read')
  async results(@Param('id') id: string, @CurrentCaller() caller: Caller | null, @Res() res: Response): Promise<void> {
    await this.visible(id, caller);
    res.status(200).type('application/x-ndjson');
    for await (const item of this.store.eachItem(id)) {
      const { id: itemId, status, route, usage, costUsd, result, diff, error } = item;
      if (!res.write(`${JSON.stringify({ id: itemId, status, route, usage, costUsd, result, diff, error })}\n`)) {
        await new Promise((resolve) => res.once('drain', resolve));
      }
    }
    res.end();
  }

  /** One patch for the whole batch (completed files, in order) that `git apply` accepts. */
  @Get(':id/patch')
  @RequiresScope('read')
  async patch(@Param('id') id: string, @CurrentCaller() caller: Caller | null, @Res() res: Response): Promise<void> {
    const batch = await this.visible(id, caller);
    if (batch.kind !== 'code-migration') {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        field: 'id',
        message: `batch ${id} is a ${batch.kind} batch; only code migrations have a patch`,
      });
    }
    res.status(200).type('text/x-diff');
    for await (const item of this.store.eachItem(id)) {
      if (item.status === 'completed' && item.diff) res.write(item.diff);
    }
    res.end();
  }

  @Delete(':id')
  @RequiresScope('submit')
  async cancel(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    await this.visible(id, caller);
    const outcome = await this.intake.cancel(id);
    if (!outcome) throw new NotFoundException(`batch ${id} not found`);
    return { id, cancelled: outcome.cancelled, batch: await this.store.get(id) };
  }

  /**
   * A repository's files are read after RateLimitGuard counted the body (which names none of them): their
   * prompts are taken from the key's token limit once read, as 413 or 429 like the guard's. Open mode has
   * no key to count against.
   */
  private sourceCharge(caller: Caller | null, res: Response): SubmitContext['chargeSource'] {
    if (!caller) return undefined;
    return async (work) => {
      const tokens = submittedTokens(work);
      const limits = effectiveLimits(this.config.access.rateLimits, caller.limits);
      const decision = await this.limiter.consume(caller.keyId, tokens, limits, Date.now(), 0);
      if (!decision.allowed) throw overLimit(decision, tokens, res);
    };
  }

  /** The batch if it exists and the caller's tenant may see it; otherwise the same 404 either way. */
  private async visible(id: string, caller: Caller | null): Promise<BatchView> {
    const batch = await this.store.get(id);
    const tenant = tenantScope(caller);
    if (batch === null || (tenant !== undefined && batch.tenant !== tenant))
      throw new NotFoundException(`batch ${id} not found`);
    return batch;
  }
}
