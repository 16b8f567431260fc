import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
} from '@nestjs/common';
import { ApiKeyStore } from '#libs/access';
import { checkNewKey } from '#libs/access';
import { RequiresScope } from './access-decorators.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** API keys: created (the secret is answered once, never stored), listed without secrets, revoked. */
@Controller('v1/keys')
@RequiresScope('admin')
export class KeysController {
  constructor(@Inject(ApiKeyStore) private readonly keys: ApiKeyStore) {}

  @ApiDoc({
    summary: 'Create an API key (its secret is answered once)',
    body: 'NewKey',
    answer: { description: 'The key and its secret', json: 'KeyCreated' },
  })
  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown) {
    const check = checkNewKey(body, Date.now());
    if (!check.ok) {
      const [first] = check.errors;
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        field: first.field,
        message: `${first.field} ${first.message}`,
        errors: check.errors,
      });
    }
    const { key, secret } = await this.keys.create(check.key);
    return { ...key, secret };
  }

  @ApiDoc({ summary: 'API keys, without secrets', answer: { description: 'Every key', json: 'KeyList' } })
  @Get()
  async list() {
    return { keys: await this.keys.list() };
  }

  @ApiDoc({
    summary: 'Revoke an API key',
    answer: { description: 'The revoked key', json: 'Key' },
    errors: { 404: 'No such key' },
  })
  @Delete(':id')
  async revoke(@Param('id') id: string) {
    const key = await this.keys.revoke(id);
    if (!key) throw new NotFoundException(`API key ${id} not found`);
    return key;
  }
}
