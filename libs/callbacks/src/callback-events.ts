import type { BatchView, CallbackEvent, ItemView } from '#libs/domain';

/** Default events of a callback that names none. */
export const DEFAULT_CALLBACK_EVENTS: readonly CallbackEvent[] = ['batch.finished'];

/**
 * The id of one event: a function of the batch (and item), so it is the same however often it is
 * enqueued — it is the delivery job's id (one job per event) and what a receiver dedupes on.
 */
export function callbackEventId(batchId: string, event: CallbackEvent, index?: number): string {
  return event === 'batch.finished' ? `evt.${batchId}.batch` : `evt.${batchId}.item.${index}`;
}

/** The event an id names (callbackEventId's inverse); null for an id it does not make. */
export function parseCallbackEventId(
  eventId: string,
): { batchId: string; event: 'batch.finished' } | { batchId: string; event: 'item.finished'; index: number } | null {
  const m = /^evt\.(.+)\.(?:(batch)|item\.(0|[1-9]\d*))$/.exec(eventId);
  if (!m) return null;
  return m[2]
    ? { batchId: m[1], event: 'batch.finished' }
    : { batchId: m[1], event: 'item.finished', index: Number(m[3]) };
}

/** What is POSTed. `data` names ids, counts, statuses, usage and cost: never item text, results or errors. */
export interface CallbackBody {
  id: string;
  type: CallbackEvent;
  /** When the event happened (the batch's or item's finishedAt), not when this attempt was sent. */
  createdAt: string | null;
  data: Record<string, unknown>;
}

/** batch.finished: the batch's final counts, routes, usage and cost. Fields are listed, not spread, so a new one never leaks by default. */
export function batchFinishedBody(batch: BatchView): CallbackBody {
  return {
    id: callbackEventId(batch.id, 'batch.finished'),
    type: 'batch.finished',
    createdAt: batch.finishedAt,
    data: {
      batch: {
        id: batch.id,
        kind: batch.kind,
        status: batch.status,
        counts: batch.counts,
        routes: batch.routes,
        usage: batch.usage,
        cost: batch.cost,
        budget: batch.budget,
        deadline: batch.deadline,
        createdAt: batch.createdAt,
        finishedAt: batch.finishedAt,
        origin: batch.origin,
      },
    },
  };
}

/** item.finished: the item's id, status (and errorCode when failed), route, usage and cost. */
export function itemFinishedBody(batchId: string, item: ItemView): CallbackBody {
  return {
    id: callbackEventId(batchId, 'item.finished', item.index),
    type: 'item.finished',
    createdAt: item.finishedAt,
    data: {
      batchId,
      item: {
        index: item.index,
        id: item.id,
        status: item.status,
        // A code, never the error's text (which may quote an answer): the receiver can tell a refusal from an outage.
        errorCode: item.errorCode,
        route: item.route && { target: item.route.target, provider: item.route.provider, model: item.route.model },
        usage: item.usage,
        costUsd: item.costUsd,
        attempts: item.attempts,
        startedAt: item.startedAt,
        finishedAt: item.finishedAt,
      },
    },
  };
}
