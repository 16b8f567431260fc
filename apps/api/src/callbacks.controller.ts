import { Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import type { Caller } from '#libs/access';
import { CallbackSecrets } from '#libs/callbacks';
import { ApiDoc } from './openapi/api-doc.decorator.js';
import { CurrentCaller, RequiresScope } from './access-decorators.js';

/**
 * The signing secret of the caller's tenant, which every callback of its batches is signed with
 * (docs/api.md#callbacks). Submit scope: whoever may ask for callbacks may verify them.
 */
@Controller('v1/callbacks')
export class CallbacksController {
  constructor(@Inject(CallbackSecrets) private readonly secrets: CallbackSecrets) {}

  @Get('secret')
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'The caller’s tenant’s callback signing secret (made on first use)',
    answer: { description: 'The secret', json: 'CallbackSecret' },
  })
  async secret(@CurrentCaller() caller: Caller | null) {
    return { secret: await this.secrets.get(caller?.tenant ?? null) };
  }

  /** A new secret; from now on every delivery, retries of earlier events included, is signed with it. */
  @Post('secret/rotate')
  @HttpCode(200)
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Replace the tenant’s callback signing secret',
    answer: { description: 'The new secret', json: 'CallbackSecret' },
  })
  async rotate(@CurrentCaller() caller: Caller | null) {
    return { secret: await this.secrets.rotate(caller?.tenant ?? null) };
  }
}
