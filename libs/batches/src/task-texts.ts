import type { BatchTask } from '#libs/domain';

/**
 * Every string of a task, keys included: what goes into each item's prompt besides the item itself
 * (instructions, labels, an extract schema's descriptions, titles and enum values, a preset's names).
 * Read generically, so a task field added later is scanned for personal data without anyone remembering
 * to (issue 13 §1: a card number in `task.instructions` went out unscanned). Iterative: the body's depth
 * is bounded, but a walk needs no stack either way.
 */
export function taskTexts(task: BatchTask): string[] {
  const texts: string[] = [];
  const stack: unknown[] = [task];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') texts.push(value);
    else if (Array.isArray(value)) stack.push(...value);
    else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        texts.push(key);
        stack.push(child);
      }
    }
  }
  return texts;
}
