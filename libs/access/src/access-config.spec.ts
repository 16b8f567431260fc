import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '#libs/config';
import { checkSubmission } from '#libs/batches';

describe('access configuration', () => {
  it('defaults: no bootstrap key, 600 requests and 5M tokens per key per minute, 1 MiB per item', () => {
    const c = loadConfig({});
    expect(c.access).toEqual({ adminApiKey: null, rateLimits: { requestsPerMinute: 600, tokensPerMinute: 5_000_000 } });
    expect(c.http.maxItemBytes).toBe(1024 * 1024);
  });

  it('reads ADMIN_API_KEY from env or file, and refuses a short one without echoing it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-admin-'));
    writeFileSync(join(dir, 'key'), 'a-bootstrap-admin-secret-0123456789\n');
    expect(loadConfig({ ADMIN_API_KEY_FILE: join(dir, 'key') }).access.adminApiKey).toBe(
      'a-bootstrap-admin-secret-0123456789',
    );
    expect(() => loadConfig({ ADMIN_API_KEY: 'hunter2' })).toThrow(
      /^ADMIN_API_KEY: expected a secret of at least 24 characters/,
    );
    expect(() => loadConfig({ ADMIN_API_KEY: 'hunter2' })).not.toThrow(/hunter2/);
  });

  it('parses RATE_LIMIT_* and MAX_ITEM_BYTES, naming the variable when wrong', () => {
    const c = loadConfig({
      RATE_LIMIT_REQUESTS_PER_MINUTE: '0',
      RATE_LIMIT_TOKENS_PER_MINUTE: '1000',
      MAX_ITEM_BYTES: '2048',
    });
    expect(c.access.rateLimits).toEqual({ requestsPerMinute: 0, tokensPerMinute: 1000 });
    expect(c.http.maxItemBytes).toBe(2048);
    expect(() => loadConfig({ RATE_LIMIT_REQUESTS_PER_MINUTE: 'lots' })).toThrow(
      /^RATE_LIMIT_REQUESTS_PER_MINUTE: expected an integer/,
    );
  });

  it('refuses an item over MAX_ITEM_BYTES, naming it (bytes, not characters)', () => {
    const limits = { maxItems: 10, maxOutputTokens: 64, localModels: ['m'], maxItemBytes: 8 };
    const doc = (text: string) => ({
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'PT1M',
      task: { type: 'summarize' },
      items: [
        { id: 'a', text: 'ok' },
        { id: 'b', text },
      ],
    });
    expect(checkSubmission(doc('12345678'), limits, 0).ok).toBe(true);
    const r = checkSubmission(doc('éééé€'), limits, 0);
    expect(r.ok ? null : r.errors[0]).toEqual({
      field: 'items[1].text',
      message: 'is 11 bytes; an item holds at most 8 bytes',
    });
    const code = checkSubmission(
      {
        kind: 'code-migration',
        sensitivity: 'public',
        deadline: 'PT1M',
        task: { instruction: 'x' },
        items: [{ path: 'a.js', content: 'x'.repeat(9) }],
      },
      limits,
      0,
    );
    expect(code.ok ? null : code.errors[0].field).toBe('items[0].content');
  });
});
