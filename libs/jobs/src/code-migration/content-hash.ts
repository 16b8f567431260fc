import { createHash } from 'node:crypto';

/**
 * What a scheduled migration remembers of a file it migrated: a hash of the instruction and the file's
 * content. The same file under the same instruction would be migrated the same way, so it is skipped;
 * a changed file or a changed instruction is migrated again. Length-prefixed so no two inputs collide.
 */
export function migrationInputHash(instruction: string, content: string): string {
  return createHash('sha256').update(`${instruction.length}:${instruction}\0`).update(content).digest('hex');
}
