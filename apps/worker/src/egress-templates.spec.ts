import { describe, expect, it } from '@jest/globals';
import { DOCUMENT_TASK_TYPES, MIGRATION_PRESETS, type BatchTask, type WorkItem } from '#libs/domain';
import { promptFor } from '#libs/jobs';
import { egressVerdict } from '#libs/providers';

/**
 * The worker's clearance check reads every request before it leaves (egressVerdict). What Switchyard writes around
 * an item (system prompts, task framing, preset instructions) must never raise a request by itself: a template
 * that read as personal data would send every item of its kind away from the cloud it was routed to.
 */
describe("Switchyard's own prompts hold nothing a clearance check reads as personal data", () => {
  const neutral = 'The board met on Monday and approved the budget for the coming year.';
  const tasks: Array<[string, BatchTask, Pick<WorkItem, 'kind' | 'input' | 'path'>]> = [
    ...DOCUMENT_TASK_TYPES.map((type): [string, BatchTask, Pick<WorkItem, 'kind' | 'input' | 'path'>] => [
      type,
      {
        type,
        ...(type === 'classify' && { labels: ['finance', 'legal'] }),
        ...(type === 'extract' && {
          schema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] },
        }),
      } as BatchTask,
      { kind: 'document-processing', input: neutral, path: undefined },
    ]),
    ...MIGRATION_PRESETS.map((preset): [string, BatchTask, Pick<WorkItem, 'kind' | 'input' | 'path'>] => [
      preset,
      { preset, ...(preset === 'rename-api' && { params: { from: 'oldName', to: 'newName' } }) } as BatchTask,
      { kind: 'code-migration', input: 'const a = require("./a");\nmodule.exports = a;\n', path: 'src/a.js' },
    ]),
  ];

  it.each(tasks)('%s', (_name, task, item) => {
    const prompt = promptFor(item, task, 512);
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: prompt.system },
        { role: 'user', content: prompt.prompt },
      ],
      max_tokens: prompt.maxTokens,
    };
    expect(egressVerdict('public', body, 'public')).toEqual({ sensitivity: 'public', found: [] });
  });
});
