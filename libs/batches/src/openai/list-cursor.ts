import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '#libs/redis';
import type { OpenAIKeys } from './openai-keys.js';

/**
 * How long a removed file's or batch's place in its list is remembered: a client paging through a list may delete or
 * lose the entry its next `after` names (the SDKs' `for await … delete` loop does exactly that) long after it read
 * the page, but not a day after.
 */
export const LIST_PLACE_TTL_MS = 24 * 3600_000;

/**
 * Remembers, in `multi` (beside the index entries' removal), where `id` stood in each of `indexes` (the global one
 * and its tenant's): its score. Only a list of one of those indexes finds the place: a tenant naming another
 * tenant's deleted file as `after` is told it names no file, as for an id that never was.
 */
export function rememberPlace(
  multi: ChainableCommander,
  keys: OpenAIKeys,
  indexes: readonly string[],
  id: string,
  score: number | string,
): void {
  for (const index of indexes) multi.set(keys.listPlace(index, id), String(score), 'PX', LIST_PLACE_TTL_MS);
}

/**
 * The rank in `index` (ascending or descending) at which a page after `after` starts: the number of entries that
 * come before it or are it. An id still listed is found by its score; one removed since it was read (deleted,
 * expired, retained away) by the score remembered when it went, so paging goes on where it was instead of failing.
 * Ties in score order by id, as Redis orders them (byte-wise; ids are ASCII). Null when `after` names nothing that
 * was ever listed here, or something removed more than LIST_PLACE_TTL_MS ago.
 */
export async function pageStart(
  redis: RedisClient,
  keys: OpenAIKeys,
  index: string,
  after: string,
  order: 'asc' | 'desc',
): Promise<number | null> {
  const score = (await redis.zscore(index, after)) ?? (await redis.get(keys.listPlace(index, after)));
  if (score === null) return null;
  const [before, ties] = await Promise.all([
    order === 'asc' ? redis.zcount(index, '-inf', `(${score}`) : redis.zcount(index, `(${score}`, '+inf'),
    redis.zrangebyscore(index, score, score),
  ]);
  return before + ties.filter((id) => (order === 'asc' ? id <= after : id >= after)).length;
}
