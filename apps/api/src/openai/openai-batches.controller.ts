import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { OpenAIBatches, OpenAIRequestError } from '#libs/batches';
import { effectiveLimits, KeyRateLimiter, submittedTokens, tenantScope, type Caller } from '#libs/access';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { ChatItemInput } from '#libs/domain';
import { CurrentCaller, RequiresScope } from '../access-decorators.js';
import { overLimit } from '../rate-limit.guard.js';
import { boundedInt } from '../query-params.js';
import { ApiDoc } from '../openapi/api-doc.decorator.js';

/**
 * OpenAI's Batch API (issue 16 §1) over Switchyard's batches: create from an uploaded file, read, list with
 * OpenAI's cursor, cancel. Enqueues and reads; a batch created here is a Switchyard batch underneath.
 */
@Controller('openai/v1/batches')
export class OpenAIBatchesController {
  constructor(
    @Inject(OpenAIBatches) private readonly batches: OpenAIBatches,
    @Inject(KeyRateLimiter) private readonly limiter: KeyRateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(200)
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Create an OpenAI batch from an uploaded file',
    description:
      'Every line is checked on its own: the valid ones become one Switchyard chat batch (deadline: now + ' +
      'completion_window), the invalid ones go to the error file. With no valid line the batch is `failed`.',
    body: 'OpenAIBatchCreate',
    headers: {
      'Idempotency-Key': {
        description:
          'Sent again with the same key (per tenant, for a day), a create answers the batch the first one made',
      },
    },
    answer: { description: 'The Batch object', json: 'OpenAIBatch' },
    errorSchema: 'OpenAIError',
    errors: {
      404: 'No such input file (or another tenant’s)',
      409: 'A create with this Idempotency-Key is still running',
      413: 'The body is over MAX_BODY_BYTES, or the file’s requests exceed what the key may submit per minute',
      422: 'This Idempotency-Key created a batch from another input file',
      503: 'Fewer Redis replicas than REDIS_WAIT_REPLICAS confirmed in time (`Retry-After: 1`)',
    },
  })
  async create(
    @Body() body: unknown,
    @CurrentCaller() caller: Caller | null,
    @Res({ passthrough: true }) res: Response,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const key = idempotencyKey?.trim() || undefined;
    // Answered only once REDIS_WAIT_REPLICAS replicas hold it (ReplicatedWritesInterceptor); fewer in time: 503,
    // and a retry with the same Idempotency-Key answers this batch.
    return this.batches.createBatch(body, caller?.tenant ?? null, Date.now(), this.charge(caller, res), key);
  }

  @Get()
  @RequiresScope('read')
  @ApiDoc({
    summary: 'List OpenAI batches, newest first',
    query: {
      after: { description: 'A batch id: list those created before it (OpenAI’s cursor)', schema: { type: 'string' } },
      limit: { description: 'Most batches (1–100, default 20)', schema: { type: 'integer', minimum: 1, maximum: 100 } },
    },
    answer: { description: 'OpenAI’s list of Batch objects', json: 'OpenAIBatchList' },
    errorSchema: 'OpenAIError',
    errors: { 400: '`after` names no batch, or `limit` is out of range: `error.param` names it' },
  })
  async list(@CurrentCaller() caller: Caller | null, @Query('after') after?: string, @Query('limit') limit?: string) {
    return this.batches.listBatches(tenantScope(caller), after, boundedInt('limit', limit, 20, 1, 100));
  }

  @Get(':id')
  @RequiresScope('read')
  @ApiDoc({
    summary: 'Read an OpenAI batch',
    description: 'Once its completion window has passed, what has not started is cancelled and ends as batch_expired.',
    answer: { description: 'The Batch object', json: 'OpenAIBatch' },
    errorSchema: 'OpenAIError',
    errors: { 404: 'No such batch (or another tenant’s)' },
  })
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.getBatch(id, tenantScope(caller))) ?? notFound(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Cancel an OpenAI batch',
    description: 'Cancels what has not run; the batch is `cancelling` until its running requests end.',
    answer: { description: 'The Batch object, cancelling or cancelled', json: 'OpenAIBatch' },
    errorSchema: 'OpenAIError',
    errors: {
      404: 'No such batch (or another tenant’s)',
      409: 'The batch has failed or already finished: nothing to cancel',
    },
  })
  async cancel(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.cancelBatch(id, tenantScope(caller))) ?? notFound(id);
  }

  /**
   * The file's requests are taken from the key's tokens per minute once read, as a native submission's are
   * by RateLimitGuard (this body names none of them). Open mode has no key to count against.
   */
  private charge(caller: Caller | null, res: Response): ((items: ChatItemInput[]) => Promise<void>) | undefined {
    if (!caller) return undefined;
    return async (items) => {
      const tokens = submittedTokens({ kind: 'chat', items });
      const limits = effectiveLimits(this.config.access.rateLimits, caller.limits);
      const decision = await this.limiter.consume(caller.keyId, tokens, limits, Date.now(), 0);
      // Named in this request's terms: its body has no `items`, its lines are the input file's.
      if (!decision.allowed && decision.neverFits)
        throw new OpenAIRequestError(
          413,
          `the input file's requests hold about ${tokens} tokens; this API key may submit at most ${decision.max} ` +
            'tokens per minute: split the file',
          'input_file_id',
          'token_limit_exceeded',
        );
      if (!decision.allowed) throw overLimit(decision, tokens, res);
    };
  }
}

function notFound(id: string): never {
  throw new OpenAIRequestError(404, `No such Batch object: ${id}`, 'batch_id');
}
