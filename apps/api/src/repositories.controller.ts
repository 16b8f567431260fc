import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Inject } from '@nestjs/common';
import { NotFoundException, Param, Post } from '@nestjs/common';
import { RepositoryRegistrationError, RepositoryRegistry } from '#libs/repositories';
import { RequiresScope } from './access-decorators.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/**
 * The repositories code migrations may read and branch (issue 13 §5): `{"root": "/srv/repos/app"}` for
 * every tenant, with `"tenant"` for one. Admin only: a tenant must not be able to grant itself a path.
 */
@Controller('v1/repositories')
@RequiresScope('admin')
export class RepositoriesController {
  constructor(@Inject(RepositoryRegistry) private readonly registry: RepositoryRegistry) {}

  @ApiDoc({
    summary: 'Register a repository code migrations may read and branch',
    body: 'RepositoryRegistration',
    answer: { description: 'The registration (the existing one when already registered)', json: 'Repository' },
  })
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

  @ApiDoc({ summary: 'Registered repositories', answer: { description: 'Every one', json: 'RepositoryList' } })
  @Get()
  async list() {
    return { repositories: await this.registry.list() };
  }

  @ApiDoc({
    summary: 'Remove a registration (batches already accepted keep their files)',
    answer: { description: 'The removed registration', json: 'RepositoryRemoved' },
    errors: { 404: 'No such registration' },
  })
  @Delete(':id')
  async remove(@Param('id') id: string) {
    const removed = await this.registry.remove(id);
    if (!removed) throw new NotFoundException(`repository ${id} not found`);
    return { ...removed, removed: true };
  }
}
