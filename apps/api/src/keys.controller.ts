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

/** API keys: created (the secret is answered once, never stored), listed without secrets, revoked. */
@Controller('v1/keys')
@RequiresScope('admin')
export class KeysController {
  constructor(@Inject(ApiKeyStore) private readonly keys: ApiKeyStore) {}

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

  @Get()
  async list() {
    return { keys: await this.keys.list() };
  }

  @Delete(':id')
  async revoke(@Param('id') id: string) {
    const key = await this.keys.revoke(id);
    if (!key) throw new NotFoundException(`API key ${id} not found`);
    return key;
  }
}
