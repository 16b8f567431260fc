import { BadRequestException, Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { AUDIT_KINDS, type AuditKind } from '#libs/audit';
import { AuditTrail, isAuditKind } from '#libs/audit';
import { STREAM_ID_PATTERN, isStreamId } from '#libs/redis';
import { boundedInt } from './query-params.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';
import { streamAnswer } from './streamed-answer.js';

/**
 * The audit trail: every routing decision and every request that left for a cloud provider, without
 * content. Admin only (undeclared routes are admin-only by default). JSON pages by stream id, or the
 * whole filtered trail as NDJSON (`?format=ndjson` or `Accept: application/x-ndjson`).
 */
@Controller('v1/audit')
export class AuditController {
  constructor(@Inject(AuditTrail) private readonly trail: AuditTrail) {}

  @ApiDoc({
    summary: 'The audit trail, oldest first: routes, reroutes, egress; never content',
    description:
      'JSON pages by stream id, or every matching entry as NDJSON (`format=ndjson` or `Accept: application/x-ndjson`).',
    query: {
      batchId: { description: 'One batch', schema: { type: 'string' } },
      kind: { description: 'One kind', schema: { type: 'string', enum: [...AUDIT_KINDS] } },
      after: {
        description: 'The `next` of the previous page',
        schema: { type: 'string', pattern: STREAM_ID_PATTERN.source },
      },
      limit: { description: 'Page size (JSON)', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      format: {
        description: 'json (pages) or ndjson (the whole trail)',
        schema: { type: 'string', enum: ['json', 'ndjson'] },
      },
    },
    answer: { description: 'A page, or the stream', json: 'AuditPage', ndjson: 'AuditEntry' },
    errors: { 400: 'A parameter is not what it takes (`field`)' },
  })
  @Get()
  async read(
    @Res() res: Response,
    @Query('batchId') batchId?: string,
    @Query('kind') kind?: string,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
    @Query('format') format?: string,
    @Headers('accept') accept?: string,
  ): Promise<void> {
    const filter = { batchId: batchId || undefined, kind: kindOf(kind), after: cursorOf(after) };
    if (format !== undefined && format !== 'json' && format !== 'ndjson')
      throw badRequest('format', 'format must be "json" or "ndjson"');
    const ndjson = format === 'ndjson' || (format === undefined && (accept ?? '').includes('application/x-ndjson'));
    if (!ndjson) {
      const page = await this.trail.page({ ...filter, limit: boundedInt('limit', limit, 100, 1, 1000) });
      res.status(200).json(page);
      return;
    }
    // The whole (filtered) trail up to the newest entry at the start, a page at a time, never all in memory.
    res.status(200).type('application/x-ndjson');
    const trail = this.trail;
    await streamAnswer(
      res,
      (async function* () {
        for await (const entry of trail.each(filter)) yield `${JSON.stringify(entry)}\n`;
      })(),
    );
  }
}

function kindOf(raw: string | undefined): AuditKind | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isAuditKind(raw)) throw badRequest('kind', `kind must be one of ${AUDIT_KINDS.join(', ')}`);
  return raw;
}

function cursorOf(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isStreamId(raw))
    throw badRequest('after', 'after must be an entry id as returned in "next" (e.g. 1700000000000-0)');
  return raw;
}

function badRequest(field: string, message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', field, message });
}
