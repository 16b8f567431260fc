import { promptFor } from '#libs/jobs/src/item-prompt.js';
import type { RoutableItem } from '#libs/routing/src/routing-policy.js';
import { estimateTokens } from '#libs/routing/src/token-estimate.js';
import type { CodeMigrationTask, DocumentTask, WorkItem } from './batch-types.js';

/**
 * What the routing policy is told about an item: its prompt's input tokens (estimated before any model
 * has seen it) and the output its task is expected to produce. Intake, reroutes, the escalation watchdog
 * and the local queue's view all estimate through here, so they agree on an item's size.
 */
export function routableItem(item: WorkItem, task: DocumentTask | CodeMigrationTask, maxOutputTokens: number): RoutableItem {
  const prompt = promptFor(item, task, maxOutputTokens);
  return {
    sensitivity: item.sensitivity,
    deadline: item.deadline,
    inputTokens: estimateTokens(prompt.system) + estimateTokens(prompt.prompt),
    expectedOutputTokens: prompt.expectedOutputTokens,
  };
}
