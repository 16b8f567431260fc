import { describe, expect, it } from '@jest/globals';
import { parseCompletionWindow } from './completion-window.js';

describe('an OpenAI completion_window', () => {
  it('takes "24h" as OpenAI does, and any duration of minutes, hours or days', () => {
    expect(parseCompletionWindow('24h')).toEqual({ ok: true, ms: 86_400_000 });
    expect(parseCompletionWindow('5m')).toEqual({ ok: true, ms: 300_000 });
    expect(parseCompletionWindow('72h')).toEqual({ ok: true, ms: 259_200_000 });
    expect(parseCompletionWindow('7d')).toEqual({ ok: true, ms: 604_800_000 });
    expect(parseCompletionWindow('60s')).toEqual({ ok: true, ms: 60_000 });
  });

  it('refuses what is not a duration, shorter than a minute, or past the deadline horizon', () => {
    for (const text of ['', '24', 'h', '1.5h', '1w', 'PT1H', 24, null])
      expect(parseCompletionWindow(text)).toMatchObject({ ok: false });
    expect(parseCompletionWindow('30s')).toEqual({ ok: false, message: 'must be at least one minute' });
    expect(parseCompletionWindow('400d')).toEqual({ ok: false, message: 'must be at most 366 days' });
  });
});
