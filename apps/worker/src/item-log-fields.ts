import type { WorkItem } from '#libs/domain';

/**
 * Which item a log line is about: its batch and index, and the id of the API request that submitted it
 * (X-Request-Id), so one search finds the request's access line and every worker line about its items.
 */
export function itemLogFields(item: Pick<WorkItem, 'batchId' | 'index' | 'requestId'>): {
  batchId: string;
  index: number;
  requestId?: string;
} {
  const { batchId, index, requestId } = item;
  return requestId === undefined ? { batchId, index } : { batchId, index, requestId };
}
