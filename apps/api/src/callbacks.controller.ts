import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import type { Caller } from '#libs/access';
import { BatchCallbacks, BatchStore } from '#libs/batches';
import { CallbackSecrets } from '#libs/callbacks';
import { ApiDoc } from './openapi/api-doc.decorator.js';
import { CurrentCaller, RequiresScope } from './access-decorators.js';
import { visibleBatch } from './batches.controller.js';

/**
 * The signing secret of the caller's tenant, which every callback of its batches is signed with, and sending
 * again what a receiver missed (docs/api.md#callbacks). Submit scope: whoever may ask for callbacks may
 * verify them, and ask for them again.
 */
@Controller('v1')
export class CallbacksController {
  constructor(
    @Inject(CallbackSecrets) private readonly secrets: CallbackSecrets,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(BatchCallbacks) private readonly callbacks: BatchCallbacks,
  ) {}

  @Get('callbacks/secret')
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'The caller’s tenant’s callback signing secret (made on first use)',
    answer: { description: 'The secret', json: 'CallbackSecret' },
  })
  async secret(@CurrentCaller() caller: Caller | null) {
    return { secret: await this.secrets.get(caller?.tenant ?? null) };
  }

  /** A new secret; from now on every delivery, retries of earlier events included, is signed with it. */
  @Post('callbacks/secret/rotate')
  @HttpCode(200)
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Replace the tenant’s callback signing secret',
    answer: { description: 'The new secret', json: 'CallbackSecret' },
  })
  async rotate(@CurrentCaller() caller: Caller | null) {
    return { secret: await this.secrets.rotate(caller?.tenant ?? null) };
  }

  /**
   * The batch's events whose delivery gave up (a receiver down longer than CALLBACK_ATTEMPTS lasts), sent
   * again. Bull Board is read-only, so its Retry cannot; delivered events are not sent twice.
   */
  @Post('batches/:id/callbacks/redeliver')
  @HttpCode(200)
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Send again the batch’s callback events whose delivery gave up',
    answer: { description: 'How many events went back to be delivered', json: 'CallbacksRedelivered' },
    errors: { 404: 'No such batch (or another tenant’s)' },
  })
  async redeliver(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    await visibleBatch(this.store, id, caller);
    return { redelivered: await this.callbacks.redeliver(id) };
  }
}
