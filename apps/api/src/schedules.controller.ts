import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Put,
  Post,
  Res,
} from '@nestjs/common';
import type { Response } from 'express';
import { tenantScope, type Caller } from '#libs/access';
import { ScheduleNameTaken, ScheduleService } from '#libs/schedules';
import type { ScheduleOwner, ScheduleView } from '#libs/schedules';
import { CurrentCaller, RequiresScope } from './access-decorators.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/**
 * Nightly migrations and other standing orders, each backed by one BullMQ Job Scheduler. A schedule
 * belongs to the creating key's tenant and fires batches for it; other tenants get 404 for it.
 */
@Controller('v1/schedules')
export class SchedulesController {
  constructor(@Inject(ScheduleService) private readonly schedules: ScheduleService) {}

  /** Creates the schedule, or replaces the one with the same name (the scheduler is upserted). */
  @ApiDoc({
    summary: 'Create a schedule, or replace the one of the same name',
    body: 'ScheduleSubmission',
    answer: { description: 'The schedule', json: 'Schedule', location: '/v1/schedules/{name}' },
    errors: { 409: 'The name is another tenant’s (`field`: name)' },
  })
  @Post()
  @HttpCode(201)
  @RequiresScope('submit')
  async upsert(
    @Body() body: unknown,
    @CurrentCaller() caller: Caller | null,
    @Res({ passthrough: true }) res: Response,
  ) {
    const name = (body as { name?: unknown } | null)?.name;
    if (typeof name === 'string') await this.assertFree(name, caller);
    const owner = typeof name === 'string' ? await this.ownerFor(name, caller) : ownerOf(caller);
    const view = await this.claimed(name, () => this.schedules.upsert(body, Date.now(), owner, tenantScope(caller)));
    res.setHeader('Location', `/v1/schedules/${encodeURIComponent(view.name)}`);
    return view;
  }

  @ApiDoc({
    summary: 'Create or replace the schedule of this name (the body may leave its name out, or give the same one)',
    body: 'ScheduleSubmission',
    answer: { description: 'The schedule', json: 'Schedule' },
    errors: {
      400: 'A field is wrong (`field` names it), the body’s name among them when it is not the path’s',
      409: 'The name is another tenant’s (`field`: name)',
    },
  })
  @Put(':name')
  @RequiresScope('submit')
  async replace(@Param('name') name: string, @Body() body: unknown, @CurrentCaller() caller: Caller | null) {
    // A body naming another schedule was PUT to the wrong path: replacing this one with it would be a silent mistake.
    const given = (body as { name?: unknown } | null)?.name;
    if (given !== undefined && given !== name)
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        field: 'name',
        message: `name ${JSON.stringify(given)} is not the path's ${JSON.stringify(name)}: leave it out or give the same`,
      });
    await this.assertFree(name, caller);
    const named = { ...(typeof body === 'object' && body ? body : {}), name };
    const owner = await this.ownerFor(name, caller);
    return this.claimed(name, () => this.schedules.upsert(named, Date.now(), owner, tenantScope(caller)));
  }

  @ApiDoc({
    summary: 'Schedules',
    answer: { description: 'Every schedule the key’s tenant owns', json: 'ScheduleList' },
  })
  @Get()
  @RequiresScope('read')
  async list(@CurrentCaller() caller: Caller | null) {
    const tenant = tenantScope(caller);
    return { schedules: (await this.schedules.list()).filter((s) => tenant === undefined || s.tenant === tenant) };
  }

  @ApiDoc({
    summary: 'A schedule, its next run and its last runs',
    answer: { description: 'The schedule', json: 'Schedule' },
    errors: { 404: 'No such schedule (or another tenant’s)' },
  })
  @Get(':name')
  @RequiresScope('read')
  async get(@Param('name') name: string, @CurrentCaller() caller: Caller | null) {
    return this.visible(name, caller);
  }

  @ApiDoc({
    summary: 'Delete a schedule (its scheduler stops firing)',
    answer: { description: 'Deleted', json: 'ScheduleDeleted' },
    errors: { 404: 'No such schedule (or another tenant’s)' },
  })
  @Delete(':name')
  @RequiresScope('submit')
  async delete(@Param('name') name: string, @CurrentCaller() caller: Caller | null) {
    const tenant = tenantScope(caller);
    if (tenant !== undefined) await this.visible(name, caller);
    if (!(await this.schedules.delete(name))) throw new NotFoundException(`schedule ${name} not found`);
    return { name, deleted: true };
  }

  private async visible(name: string, caller: Caller | null): Promise<ScheduleView> {
    const view = await this.schedules.get(name);
    const tenant = tenantScope(caller);
    if (!view || (tenant !== undefined && view.tenant !== tenant))
      throw new NotFoundException(`schedule ${name} not found`);
    return view;
  }

  /**
   * Whose the schedule is once written: the caller's, except where an admin (who sees every tenant) replaces a
   * tenant's schedule — it stays that tenant's, firing under its owner key's limits, as security.md promises
   * (a schedule belongs to the tenant of the key that created it).
   */
  private async ownerFor(name: string, caller: Caller | null): Promise<ScheduleOwner> {
    if (tenantScope(caller) === undefined) {
      const existing = await this.schedules.get(name);
      if (existing) return { tenant: existing.tenant, keyId: existing.ownerKeyId };
    }
    return ownerOf(caller);
  }

  /** Names are one namespace: a tenant may not replace another's schedule (nor read it back through the reply). */
  private async assertFree(name: string, caller: Caller | null): Promise<void> {
    const tenant = tenantScope(caller);
    if (tenant === undefined) return;
    const existing = await this.schedules.get(name);
    if (existing && existing.tenant !== tenant) throw nameTaken(name);
  }

  /** The write itself claims the name (another tenant may have taken it since assertFree): the same 409 then. */
  private async claimed(name: unknown, write: () => Promise<ScheduleView>): Promise<ScheduleView> {
    try {
      return await write();
    } catch (err) {
      if (err instanceof ScheduleNameTaken) throw nameTaken(String(name));
      throw err;
    }
  }
}

function nameTaken(name: string): ConflictException {
  return new ConflictException({
    statusCode: 409,
    error: 'Conflict',
    field: 'name',
    message: `schedule name ${name} is taken`,
  });
}

/** The schedule's owner: its firings count against this key's limits. */
function ownerOf(caller: Caller | null): ScheduleOwner {
  return { tenant: caller?.tenant ?? null, keyId: caller?.keyId ?? null };
}
