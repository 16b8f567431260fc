import { hashTag } from '#libs/redis';

/**
 * The prefix BullMQ's keys take: Switchyard's prefix as a hash tag (`{switchyard}`), as BullMQ requires on a
 * Redis Cluster, where each of its scripts touches many keys of one queue: with the tag every queue key
 * lands in one slot (issue 14 §4). A prefix that already holds a tag is kept, so this can be applied twice.
 */
export function bullPrefix(prefix: string): string {
  return prefix.includes('{') ? prefix : hashTag(prefix);
}
