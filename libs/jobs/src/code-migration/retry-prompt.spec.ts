import { describe, expect, it } from '@jest/globals';
import { codeMigrationPrompt } from '../code-migration-prompt.js';
import { validateMigratedFile } from './output-validator.js';
import {
  MAX_VALIDATION_RETRIES,
  RETRY_MESSAGE_MAX_CHARS,
  validationRetryPrompt,
  type ValidationFailure,
} from './retry-prompt.js';

const task = { instruction: 'Replace var with const or let.' };
const file = 'var a = 1;\nvar b = 2;\n';

function failureOf(output: string): ValidationFailure {
  const check = validateMigratedFile('src/a.ts', output, { originalContent: file, maxTokensHit: false });
  if (check.ok) throw new Error('expected the output to be rejected');
  return check;
}

describe('validationRetryPrompt', () => {
  it('allows two retries after the first answer by default', () => {
    expect(MAX_VALIDATION_RETRIES).toBe(2);
  });

  it('repeats the instruction and the file, then says why the answer was rejected', () => {
    const retry = validationRetryPrompt(task, 'src/a.ts', file, failureOf('const a = 1;\nconst b = ;\n'), 512);
    const first = codeMigrationPrompt(task, 'src/a.ts', file, 512);
    expect(retry.system).toBe(first.system);
    expect(retry.prompt.startsWith(first.prompt)).toBe(true);
    expect(retry.prompt).toContain('Your previous answer was rejected: line 2:11: Expression expected.');
    expect(retry.prompt).toContain('> 2 | const b = ;');
    expect(retry.prompt).toMatch(/Answer again with the complete corrected file content only\.$/);
    expect(retry.maxTokens).toBe(first.maxTokens);
  });

  it('sends back the lines around the error, not the whole rejected answer', () => {
    const longAnswer = `${'const ok = 1;\n'.repeat(2000)}const broken = ;\n${'const ok = 2;\n'.repeat(2000)}`;
    const retry = validationRetryPrompt(task, 'src/a.ts', file, failureOf(longAnswer), 512);
    const feedback = retry.prompt.slice(codeMigrationPrompt(task, 'src/a.ts', file, 512).prompt.length);
    expect(feedback).toContain('> 2001 | const broken = ;');
    expect(feedback.length).toBeLessThan(600);
  });

  it('caps an oversized validator message', () => {
    const failure: ValidationFailure = { ok: false, reason: 'syntax', message: 'x'.repeat(10_000) };
    const retry = validationRetryPrompt(task, 'src/a.ts', file, failure, 512);
    const feedback = retry.prompt.slice(codeMigrationPrompt(task, 'src/a.ts', file, 512).prompt.length);
    expect(feedback.length).toBeLessThan(RETRY_MESSAGE_MAX_CHARS + 200);
  });

  it('explains a truncated answer without an excerpt', () => {
    const retry = validationRetryPrompt(
      task,
      'src/a.ts',
      file,
      { ok: false, reason: 'truncated', message: 'the answer was cut off at the output token limit' },
      512,
    );
    expect(retry.prompt).toContain(
      'Your previous answer was rejected: the answer was cut off at the output token limit.\nAnswer again',
    );
  });
});
