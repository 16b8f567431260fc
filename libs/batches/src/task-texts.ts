import type { BatchTask } from '#libs/domain';
import { textsIn } from '#libs/privacy';

/**
 * Every string of a task, keys included: what goes into each item's prompt besides the item itself
 * (instructions, labels, an extract schema's descriptions, titles and enum values, a preset's names).
 * Read generically, so a task field added later is scanned for personal data without anyone remembering
 * to (issue 13 §1: a card number in `task.instructions` went out unscanned).
 */
export function taskTexts(task: BatchTask): string[] {
  return textsIn(task);
}
