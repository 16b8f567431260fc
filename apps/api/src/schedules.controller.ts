import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Put, Post } from '@nestjs/common';
import { ScheduleService } from '#libs/schedules/src/schedule-service.js';

/** Nightly migrations and other standing orders, each backed by one BullMQ Job Scheduler. */
@Controller('v1/schedules')
export class SchedulesController {
  constructor(@Inject(ScheduleService) private readonly schedules: ScheduleService) {}

  /** Creates the schedule, or replaces the one with the same name (the scheduler is upserted). */
  @Post()
  @HttpCode(201)
  upsert(@Body() body: unknown) {
    return this.schedules.upsert(body);
  }

  @Put(':name')
  replace(@Param('name') name: string, @Body() body: unknown) {
    return this.schedules.upsert({ ...(typeof body === 'object' && body ? body : {}), name });
  }

  @Get()
  async list() {
    return { schedules: await this.schedules.list() };
  }

  @Get(':name')
  async get(@Param('name') name: string) {
    const view = await this.schedules.get(name);
    if (!view) throw new NotFoundException(`schedule ${name} not found`);
    return view;
  }

  @Delete(':name')
  async delete(@Param('name') name: string) {
    if (!(await this.schedules.delete(name))) throw new NotFoundException(`schedule ${name} not found`);
    return { name, deleted: true };
  }
}
