import {
  BadRequestException,
  Controller,
  Get,
  Headers,
  HttpException,
  Inject,
  Logger,
  Param,
  Req,
  Res,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import type { RedisClient } from '#libs/redis';
import { BatchStore, type BatchEventEntry } from '#libs/batches';
import type { Caller } from '#libs/access';
import { REDIS, isStreamId } from '#libs/redis';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { StreamSlots } from './stream-slots.js';
import { CurrentCaller, RequiresScope } from './access-decorators.js';
import { visibleBatch } from './batches.controller.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** How long one read waits for new events before a keep-alive comment (proxies drop idle connections). */
const KEEP_ALIVE_MS = 15_000;

/**
 * GET /v1/batches/:id/events: the batch's progress as Server-Sent Events, from its Redis stream (each item
 * transition, each reroute), then its final status, and the response ends. Resumable: `Last-Event-ID` (an
 * entry id, which every event carries as its `id:`) continues after that event; after the final status, a 204
 * ends it for good. Read scope, as GET batch.
 */
@Controller('v1/batches')
export class BatchEventsController implements BeforeApplicationShutdown {
  /** Open streams, each ended on shutdown: a client reconnects with Last-Event-ID (to another replica) and misses nothing. */
  private readonly open = new Set<() => void>();
  private readonly log = new Logger('batch-events');
  private readonly slots: StreamSlots;

  constructor(
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.slots = new StreamSlots(config.http.maxStreams, config.http.maxStreamsPerKey);
  }

  @Get(':id/events')
  @RequiresScope('read')
  @ApiDoc({
    summary: 'A batch’s progress as Server-Sent Events: item transitions, reroutes, then its final status',
    description:
      'A 429 with Retry-After when the key already holds SSE_MAX_STREAMS_PER_KEY streams, or this replica SSE_MAX_STREAMS.',
    headers: { 'Last-Event-ID': { description: 'Resume after this event id (an entry id the stream sent)' } },
    answer: {
      description:
        'text/event-stream; ends after the final `status` event. 204 (no body) to a Last-Event-ID that is that event’s id: the stream is over',
      text: 'text/event-stream',
    },
    errors: {
      400: 'Last-Event-ID is not an event id',
      404: 'No such batch (or another tenant’s)',
    },
  })
  async events(
    @Param('id') id: string,
    @CurrentCaller() caller: Caller | null,
    @Req() req: Request,
    @Res() res: Response,
    @Headers('last-event-id') lastEventId?: string,
  ): Promise<void> {
    const after = lastEventId?.trim() || '0-0';
    if (!isStreamId(after)) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        field: 'Last-Event-ID',
        message: 'Last-Event-ID must be the id of an event this stream sent, such as 1764750000000-0',
      });
    }
    const visible = await visibleBatch(this.store, id, caller);
    let finished = visible.finishedAt !== null;
    // The client had the final status (its id is the finished entry's, or the one a stream that had expired was
    // given): the stream is over. A 204 is what makes an EventSource stop; a 200 that sent the status again had it
    // reconnect, every 3 s, for ever.
    const over =
      finished &&
      lastEventId &&
      (after === finalIdOf(visible.finishedAt) || (await this.store.events.isFinished(this.redis, id, after)));
    if (over) {
      res.status(204).end();
      return;
    }
    // Each stream holds a Redis connection while it waits: bounded per key and per process.
    const slot = this.slots.acquire(caller?.keyId ?? 'open');
    if ('refused' in slot) {
      res.setHeader('Retry-After', '5');
      const which = slot.refused === 'key' ? 'this key has' : 'this API replica has';
      const setting = slot.refused === 'key' ? 'SSE_MAX_STREAMS_PER_KEY' : 'SSE_MAX_STREAMS';
      throw new HttpException(
        {
          statusCode: 429,
          error: 'Too Many Requests',
          message: `${which} ${slot.limit} event streams open (${setting}); close one or retry later`,
        },
        429,
      );
    }
    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    // XREAD BLOCK holds its connection while it waits: one of its own per stream, closed when the client goes.
    const client = this.redis.duplicate();
    client.on('error', () => undefined); // a lost connection fails the pending read, which ends this stream
    let gone = false;
    const leave = () => {
      gone = true;
      client.disconnect();
    };
    req.on('close', leave);
    this.open.add(leave);
    try {
      let cursor = after;
      while (!gone) {
        // A finished batch's stream is complete: read what is left without waiting, then end.
        const entries = await this.store.events.read(client, id, cursor, finished ? null : KEEP_ALIVE_MS);
        for (const entry of entries) {
          cursor = entry.id;
          if (entry.type === 'finished') return await this.end(res, id, entry.id);
          res.write(frame(entry.id, entry.type, eventData(entry)));
        }
        if (entries.length > 0) continue;
        // Nothing after the cursor of a finished batch: the client had every event, or the stream expired.
        if (finished) return await this.end(res, id, null);
        res.write(': keep-alive\n\n');
        finished = (await this.store.get(id))?.finishedAt != null;
      }
    } catch (err) {
      // A read cut short by the client leaving is not an error. Otherwise (Redis lost) the headers are sent
      // already: the stream ends, and the client resumes with Last-Event-ID.
      if (!gone)
        this.log.warn({
          msg: 'event stream ended early',
          batchId: id,
          error: err instanceof Error ? err.message : String(err),
        });
    } finally {
      slot.release();
      this.open.delete(leave);
      client.disconnect();
      if (!res.writableEnded) res.end();
    }
  }

  beforeApplicationShutdown(): void {
    for (const leave of this.open) leave();
  }

  /**
   * The final event: the batch as GET /v1/batches/:id shows it now. Without the stream's own finished entry (the
   * stream expired, or was trimmed of it), it carries an id made from the batch's finish, which a client resuming
   * with it is told is the end: without an id an EventSource reconnected every 3 s for ever.
   */
  private async end(res: Response, id: string, entryId: string | null): Promise<void> {
    const batch = await this.store.get(id);
    res.write(frame(entryId ?? finalIdOf(batch?.finishedAt ?? null), 'status', batch));
  }
}

/**
 * The id the final status goes by when the stream has no finished entry to give it: the batch's finish with the
 * largest sequence number a stream id takes, which no entry of the stream can have had (the entries written in the
 * finishing millisecond are numbered from 0).
 */
function finalIdOf(finishedAt: string | null): string | null {
  const at = finishedAt === null ? Number.NaN : Date.parse(finishedAt);
  return Number.isFinite(at) ? `${at}-18446744073709551615` : null;
}

function eventData(entry: BatchEventEntry): Omit<BatchEventEntry, 'id' | 'type'> {
  const { id: _id, type: _type, ...data } = entry;
  return data;
}

function frame(id: string | null, event: string, data: unknown): string {
  return `${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
