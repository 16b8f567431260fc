import {
  BadRequestException,
  Body,
  ConflictException,
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
import {
  BatchErasure,
  BatchIntake,
  BatchStore,
  chatCompletionOf,
  cursorAfter,
  parseListCursor,
  type BatchListCursor,
  type SubmitContext,
} from '#libs/batches';
import { type BatchView } from '#libs/domain';
import { tenantScope, type Caller } from '#libs/access';
import { effectiveLimits, KeyRateLimiter } from '#libs/access';
import { submittedTokens } from '#libs/access';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { overLimit } from './rate-limit.guard.js';
import { CurrentCaller, RequestId, RequiresScope, SubmitsTokens } from './access-decorators.js';
import { ReadsOnly } from './replicated-writes.interceptor.js';
import { boundedInt } from './query-params.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';
import { streamAnswer } from './streamed-answer.js';

/**
 * The v1 batch API: submit, read, stream results, cancel. Enqueues and reads; never processes.
 * A key sees only its tenant's batches (another tenant's is a 404, so ids do not leak); admin sees all.
 */
@Controller('v1/batches')
export class BatchesController {
  constructor(
    @Inject(BatchIntake) private readonly intake: BatchIntake,
    @Inject(BatchErasure) private readonly erasure: BatchErasure,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(KeyRateLimiter) private readonly limiter: KeyRateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @ApiDoc({
    summary: 'Submit a batch',
    description:
      'Routes every item (local model or cloud provider), stores and enqueues them; poll Location. A batch of at least ' +
      'INTAKE_DEFER_ITEMS items is answered `validating` once its body is checked and stored, and a worker routes, ' +
      'stores and enqueues its items (seconds to a minute for 100,000); until then it has no items to page.',
    headers: { 'Idempotency-Key': { description: 'The same key and body answer the same batch (per tenant)' } },
    body: 'BatchSubmission',
    answer: { description: 'Accepted and queued', json: 'BatchAccepted', location: '/v1/batches/{id}' },
    errors: { 422: 'The Idempotency-Key was used with another body (`field`: Idempotency-Key)' },
  })
  @Post()
  @HttpCode(202)
  @RequiresScope('submit')
  @SubmitsTokens()
  async submit(
    @Body() body: unknown,
    @CurrentCaller() caller: Caller | null,
    @Res({ passthrough: true }) res: Response,
    @RequestId() requestId: string | undefined,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const key = idempotencyKey?.trim() || undefined;
    // Idempotency keys are per tenant: another tenant's identical key must not answer with this batch's id.
    const scopedKey = key && caller ? `tenant:${caller.tenant}:${key}` : key;
    // The request id rides on the batch's jobs, so the worker's lines about its items name this request.
    // A large batch is answered once its body is validated and stored (`validating`): a worker writes its items.
    const context = {
      tenant: caller?.tenant ?? null,
      chargeSource: this.sourceCharge(caller, res),
      requestId,
      defer: true,
    };
    const { id, status, total } = await this.intake.submit(body, scopedKey, Date.now(), context);
    // The 202 is a promise that the batch survives losing this master: ReplicatedWritesInterceptor answers it only
    // once REDIS_WAIT_REPLICAS replicas hold the batch, its items, routes and jobs.
    // 202 says where the accepted batch is, to poll (RFC 9110 §15.3.3).
    res.setHeader('Location', `/v1/batches/${encodeURIComponent(id)}`);
    return { id, status, total };
  }

  @ApiDoc({
    summary: 'Quote a batch: its routes, cost and finish time, without enqueuing',
    body: 'BatchSubmission',
    answer: { description: 'The plan', json: 'Quote' },
  })
  @Post('quote')
  @RequiresScope('submit')
  @ReadsOnly()
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

  @ApiDoc({
    summary: 'Batches, newest first',
    query: {
      limit: { description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
      before: {
        description:
          'The `next` of the previous page (its last batch’s createdAt and id); a createdAt timestamp is also taken',
        schema: { type: 'string' },
      },
    },
    answer: { description: 'A page', json: 'BatchList' },
    errors: { 400: 'limit or before is not what it takes (`field`)' },
  })
  @Get()
  @RequiresScope('read')
  async list(@CurrentCaller() caller: Caller | null, @Query('limit') limit?: string, @Query('before') before?: string) {
    const batches = await this.store.list(
      boundedInt('limit', limit, 50, 1, 500),
      listCursor(before),
      tenantScope(caller),
    );
    return { batches, next: batches.length > 0 ? cursorAfter(batches[batches.length - 1]) : null };
  }

  @ApiDoc({
    summary: 'A batch: status, counts, routes, usage, cost',
    answer: { description: 'The batch', json: 'Batch' },
    errors: { 404: 'No such batch (or another tenant’s)' },
  })
  @Get(':id')
  @RequiresScope('read')
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller | null): Promise<BatchView> {
    return this.visible(id, caller);
  }

  @ApiDoc({
    summary: 'A batch’s items with their routes and results',
    query: {
      offset: { description: 'Index of the first item', schema: { type: 'integer', minimum: 0, default: 0 } },
      limit: { description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
    },
    answer: { description: 'A page of items', json: 'ItemPage' },
    errors: { 400: 'offset or limit is out of bounds (`field`)', 404: 'No such batch (or another tenant’s)' },
  })
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
    // A batch still validating has no item yet: no next page to ask for (a pager would ask for this one forever).
    return {
      items,
      total: batch.counts.total,
      nextOffset: items.length > 0 && next < batch.counts.total ? next : null,
    };
  }

  /** One JSON line per item, read a page at a time so a 10k-item batch never sits in memory. */
  @ApiDoc({
    summary: 'Every item’s result as NDJSON, one line per item',
    answer: { description: 'A stream of lines', ndjson: 'ResultLine' },
    errors: { 404: 'No such batch (or another tenant’s)' },
  })
  @Get(':id/results')
  @RequiresScope('read')
  async results(@Param('id') id: string, @CurrentCaller() caller: Caller | null, @Res() res: Response): Promise<void> {
    const batch = await this.visible(id, caller);
    res.status(200).type('application/x-ndjson');
    const store = this.store;
    await streamAnswer(
      res,
      (async function* () {
        for await (const item of store.eachItem(id)) {
          const { id: itemId, status, route, usage, costUsd, diff, error } = item;
          // A chat item's answer is a chat.completion object, as the chat-completions API gives it (issue 16 §2).
          const result = batch.kind === 'chat' && status === 'completed' ? chatCompletionOf(id, item) : item.result;
          yield `${JSON.stringify({ id: itemId, status, route, usage, costUsd, result, diff, error })}\n`;
        }
      })(),
    );
  }

  /** One patch for the whole batch (completed files, in order) that `git apply` accepts. */
  @ApiDoc({
    summary: 'A code migration’s completed files as one patch for `git apply`',
    answer: { description: 'A unified diff', text: 'text/x-diff' },
    errors: { 400: 'The batch is not a code migration (`field`: id)', 404: 'No such batch (or another tenant’s)' },
  })
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
    const store = this.store;
    await streamAnswer(
      res,
      (async function* () {
        for await (const item of store.eachItem(id)) if (item.status === 'completed' && item.diff) yield item.diff;
      })(),
    );
  }

  @ApiDoc({
    summary: 'Cancel a batch',
    answer: { description: 'What was cancelled, and the batch', json: 'BatchCancelled' },
    errors: { 404: 'No such batch (or another tenant’s)' },
  })
  @Delete(':id')
  @RequiresScope('submit')
  async cancel(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    await this.visible(id, caller);
    const outcome = await this.intake.cancel(id);
    if (!outcome) throw new NotFoundException(`batch ${id} not found`);
    return { id, cancelled: outcome.cancelled, batch: await this.store.get(id) };
  }

  @ApiDoc({
    summary: 'Erase a finished batch now',
    description:
      'Erasure on request: the batch, its items and results, its event stream and its item jobs (which hold the ' +
      'items’ text) are deleted now rather than at RESULT_TTL, and an `erasure` entry (no text) is added to the ' +
      'audit trail first. The batch then answers 404. Cancel a batch still running first.',
    answer: { description: 'What was erased', json: 'BatchErased' },
    errors: {
      404: 'No such batch',
      409: 'The batch has items queued or running: cancel it first',
    },
  })
  @Delete(':id/data')
  @RequiresScope('admin')
  async erase(@Param('id') id: string) {
    const erased = await this.erasure.erase(id);
    if (erased === null) throw new NotFoundException(`batch ${id} not found`);
    if (erased === 'unfinished')
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        message: `batch ${id} has items queued or running: cancel it (DELETE /v1/batches/${id}) first`,
      });
    return { ...erased, erased: true };
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

  private visible(id: string, caller: Caller | null): Promise<BatchView> {
    return visibleBatch(this.store, id, caller);
  }
}

/** The batch if it exists and the caller's tenant may see it; otherwise the same 404 either way. */
/** The `before` of a list of batches (GET /v1/batches, the dashboard), or a 400 naming it. */
export function listCursor(before: string | undefined): BatchListCursor | undefined {
  if (before === undefined) return undefined;
  const cursor = parseListCursor(before);
  if (cursor === null) {
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      field: 'before',
      message: 'before must be the next of an earlier page (or a timestamp)',
    });
  }
  return cursor;
}

export async function visibleBatch(store: BatchStore, id: string, caller: Caller | null): Promise<BatchView> {
  const batch = await store.get(id);
  const tenant = tenantScope(caller);
  if (batch === null || (tenant !== undefined && batch.tenant !== tenant))
    throw new NotFoundException(`batch ${id} not found`);
  return batch;
}
