import type { DocumentTask, WorkItem } from '#libs/domain';
import { promptFor } from '#libs/jobs';
import type { Prompt } from '#libs/jobs';

/** One benchmark batch: the body POSTed to /v1/batches and the prompts the worker builds from it. */
export interface Workload {
  body: {
    kind: 'document-processing';
    sensitivity: 'internal';
    deadline: string;
    task: DocumentTask;
    items: { id: string; text: string }[];
  };
  /** Exactly what the worker sends the engine for each item (same builder, same limits). */
  prompts: Prompt[];
  maxTokens: number;
}

// ~45 words: a short document keeps prompt evaluation small next to generation, which is what we measure.
const TEXT =
  'The quarterly report covers revenue, costs and hiring plans for the next two quarters. ' +
  'Sales grew in every region except the north, where a supplier delay held back two large orders. ';

/**
 * `count` summarize items, each text distinct (tag and index first) so no two prompts are equal.
 * `maxOutputTokens` is the worker's MAX_OUTPUT_TOKENS: promptFor caps the task's maxTokens by it.
 */
export function summarizeWorkload(tag: string, count: number, maxTokens: number, maxOutputTokens: number): Workload {
  const task: DocumentTask = { type: 'summarize', maxTokens };
  const items = Array.from({ length: count }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag}-${i}: ${TEXT}` }));
  const prompts = items.map((item) => {
    const work: Pick<WorkItem, 'kind' | 'input' | 'path'> = { kind: 'document-processing', input: item.text };
    return promptFor(work, task, maxOutputTokens);
  });
  // A deadline far away: the router must not call anything at-risk, and with no cloud configured every item runs locally.
  return {
    body: { kind: 'document-processing', sensitivity: 'internal', deadline: 'PT1H', task, items },
    prompts,
    maxTokens: prompts[0].maxTokens,
  };
}
