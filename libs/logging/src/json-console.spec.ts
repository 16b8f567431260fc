import { describe, expect, it } from '@jest/globals';
import { jsonLine } from './json-console.js';

describe('jsonLine', () => {
  it('wraps plain text (node-llama-cpp, library warnings) as one JSON object, colors stripped', () => {
    const line = jsonLine('warn', 'worker', [
      '\u001b[33m[node-llama-cpp] %s\u001b[39m',
      'n_ctx_per_seq (4096) > n_ctx_train (2048)\nsecond line',
    ]);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toMatchObject({
      level: 'warn',
      context: 'worker',
      message: '[node-llama-cpp] n_ctx_per_seq (4096) > n_ctx_train (2048)\nsecond line',
      pid: process.pid,
    });
  });

  it('passes a line that is already a JSON object through unchanged, and wraps one that only looks like it', () => {
    const json = JSON.stringify({ level: 'error', msg: 'queue worker error' });
    expect(jsonLine('error', 'worker', [json])).toBe(json);
    expect(JSON.parse(jsonLine('log', 'api', ['{not json']))).toMatchObject({ message: '{not json' });
  });
});
