import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Inject } from '@nestjs/common';
import { NotFoundException, Param, Post } from '@nestjs/common';
import { RepositoryRegistrationError, RepositoryRegistry } from '#libs/repositories';
import { RequiresScope } from './access-decorators.js';

/**
 * The repositories code migrations may read and branch (issue 13 §5): `{"root": "/srv/repos/app"}` for
 * every tenant, with `"tenant"` for one. Admin only: a tenant must not be able to grant itself a path.
 */
@Controller('v1/repositories')
@RequiresScope('admin')
export class RepositoriesController {
  constructor(@Inject(RepositoryRegistry) private readonly registry: RepositoryRegistry) {}

  @Post()
  @HttpCode(201)
  async register(@Body() body: unknown) {
    const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
    const input = isObject ? (body as Record<string, unknown>) : {};
    try {
      return await this.registry.register({ root: input.root, tenant: input.tenant });
    } catch (err) {
      if (!(err instanceof RepositoryRegistrationError)) throw err;
      const message = `${err.field} ${err.message}`;
      const errors = [{ field: err.field, message: err.message }];
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', field: err.field, message, errors });
    }
  }

  @Get()
  async list() {
    return { repositories: await this.registry.list() };
  }

  @Delete(':id')
  async remove(@Param('id') id: string) {
    const removed = await this.registry.remove(id);
    if (!removed) throw new NotFoundException(`repository ${id} not found`);
    return { ...removed, removed: true };
  }
}
