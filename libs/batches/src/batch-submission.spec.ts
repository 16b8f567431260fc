import { describe, expect, it } from '@jest/globals';
import { checkSubmission, checkSubmissionCompiled } from './batch-submission.js';
import { parseDeadline, parseIsoDuration } from './deadline.js';
import { CallbackAddressGuard } from '#libs/callbacks';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const limits = { maxItems: 3, maxOutputTokens: 512, localModels: ['llama', 'qwen'] };
const doc = {
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 'PT30S',
  task: { type: 'summarize' },
  items: [{ id: 'a', text: 'hello' }],
};

function fieldOf(body: unknown): string | undefined {
  const r = checkSubmission(body, limits, NOW);
  return r.ok ? undefined : r.errors[0].field;
}

describe('checkSubmission', () => {
  it('accepts a valid document batch and resolves its deadline', () => {
    const r = checkSubmission(doc, limits, NOW);
    expect(r.ok && r.deadlineAt).toBe(NOW + 30_000);
  });

  it('accepts a callback to a public URL, and to loopback only where the operator allows it', () => {
    const callback = { url: 'http://127.0.0.1:9000/hooks', events: ['item.finished'] };
    expect(checkSubmission({ ...doc, callback: { url: 'https://example.com/h' } }, limits, NOW).ok).toBe(true);
    expect(fieldOf({ ...doc, callback })).toBe('callback.url');
    const loopback = { ...limits, callbackGuard: new CallbackAddressGuard(['127.0.0.0/8']) };
    expect(checkSubmission({ ...doc, callback }, loopback, NOW).ok).toBe(true);
    expect(fieldOf({ ...doc, callback: { url: 'https://example.com/h', events: [] } })).toBe('callback.events');
    expect(fieldOf({ ...doc, callback: { url: 'https://example.com/h', secret: 'x' } })).toBe('callback.secret');
  });

  it('accepts a batch pinned to a configured local model', () => {
    expect(
      checkSubmission({ ...doc, model: 'qwen', items: [{ id: 'a', text: 'x', model: 'llama' }] }, limits, NOW).ok,
    ).toBe(true);
  });

  it('accepts a code migration batch with an absolute deadline', () => {
    const r = checkSubmission(
      {
        kind: 'code-migration',
        sensitivity: 'restricted',
        deadline: '2026-11-24T00:00:00Z',
        task: { instruction: 'to ESM' },
        items: [{ path: 'a.js', content: 'x' }],
      },
      limits,
      NOW,
    );
    expect(r.ok).toBe(true);
  });

  it('takes an output branch only with a repository source, naming output.branch otherwise', () => {
    const code = { kind: 'code-migration', sensitivity: 'internal', deadline: 'PT1H', task: { instruction: 'to ESM' } };
    expect(
      checkSubmission({ ...code, source: { repo: '/srv/app' }, output: { branch: 'migrate/esm' } }, limits, NOW).ok,
    ).toBe(true);
    expect(fieldOf({ ...code, items: [{ path: 'a.js', content: 'x' }], output: { branch: 'migrate/esm' } })).toBe(
      'output.branch',
    );
    expect(fieldOf({ ...code, source: { repo: '/srv/app' }, output: { branch: '' } })).toBe('output.branch');
    expect(fieldOf({ ...code, source: { repo: '/srv/app' }, output: 'migrate/esm' })).toBe('output');
  });

  it('refuses an extract schema that answers cannot be checked against, saying why, and takes conditional ones', async () => {
    // Compiling is left to checkSubmissionCompiled (off the event loop where the app runs).
    expect(checkSubmission({ ...doc, task: { type: 'extract', schema: { type: 'nonsense' } } }, limits, NOW).ok).toBe(
      true,
    );
    const broken = await checkSubmissionCompiled(
      { ...doc, task: { type: 'extract', schema: { type: 'nonsense' } } },
      limits,
      NOW,
    );
    expect(broken.ok ? null : broken.errors[0]).toEqual({
      field: 'task.schema',
      message: expect.stringMatching(/^is not a JSON Schema answers can be checked against: .*type/),
    });
    const conditional = {
      type: 'object',
      if: { required: ['a'] },
      then: { required: ['b'] },
      unevaluatedProperties: false,
    };
    expect(
      (await checkSubmissionCompiled({ ...doc, task: { type: 'extract', schema: conditional } }, limits, NOW)).ok,
    ).toBe(true);
  });

  // Issue 13 §4: these compiled at intake and then overflowed the worker's stack, or blocked the API for seconds.
  it.each([
    ['$ref to itself', { $ref: '#' }, /refer to itself/],
    ['$dynamicRef', { $dynamicAnchor: 'n', items: { $dynamicRef: '#n' } }, /\$dynamicRef/],
    ['a backtracking pattern', { type: 'string', pattern: '^(a+)+$' }, /"pattern"/],
    [
      '3000 properties',
      {
        type: 'object',
        properties: Object.fromEntries(
          Array.from({ length: 3000 }, (_, i) => [`p${i}`, { type: 'string', description: 'a field' }]),
        ),
      },
      /bytes as JSON/,
    ],
  ])('refuses %s at submission, naming task.schema', (_, schema, why) => {
    const r = checkSubmission({ ...doc, task: { type: 'extract', schema } }, limits, NOW);
    expect(r.ok ? null : r.errors[0]).toEqual({ field: 'task.schema', message: expect.stringMatching(why) });
  });

  it('takes a preset, alone or with an instruction as extra guidance; rename-api with its names', () => {
    const code = {
      kind: 'code-migration',
      sensitivity: 'internal',
      deadline: 'PT1H',
      items: [{ path: 'a.js', content: 'x' }],
    };
    expect(checkSubmission({ ...code, task: { preset: 'commonjs-to-esm' } }, limits, NOW).ok).toBe(true);
    expect(
      checkSubmission({ ...code, task: { preset: 'js-to-ts', instruction: 'Prefer interfaces' } }, limits, NOW).ok,
    ).toBe(true);
    expect(
      checkSubmission(
        { ...code, task: { preset: 'rename-api', params: { from: 'fetchUser', to: 'loadUser' } } },
        limits,
        NOW,
      ).ok,
    ).toBe(true);
  });

  it.each([
    [{ preset: 'cjs-to-esm' }, 'task.preset', /must be one of commonjs-to-esm, js-to-ts, rename-api/],
    [{ preset: 'rename-api' }, 'task.params', /is required for rename-api/],
    [{ preset: 'rename-api', params: { to: 'b' } }, 'task.params.from', /JavaScript identifier/],
    [{ preset: 'rename-api', params: { from: 'a', to: 'b-c' } }, 'task.params.to', /JavaScript identifier/],
    [{ preset: 'rename-api', params: { from: 'a', to: 'a' } }, 'task.params.to', /must differ/],
    [{ preset: 'rename-api', params: 'a→b' }, 'task.params', /must be an object/],
    [{ preset: 'commonjs-to-esm', params: { from: 'a', to: 'b' } }, 'task.params', /only with the rename-api preset/],
    [{ instruction: '' }, 'task.instruction', /must not be empty/],
    [{}, 'task.instruction', /give an instruction, a preset/],
  ])('rejects the migration task %j naming %s', (task, field, message) => {
    const r = checkSubmission(
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadline: 'PT1H',
        task,
        items: [{ path: 'a.js', content: 'x' }],
      },
      limits,
      NOW,
    );
    expect(r.ok ? null : r.errors[0]).toEqual({ field, message: expect.stringMatching(message) });
  });

  // Issue 13 §4: unknown fields were dropped; `items[0].sensitivity: "restricted"` went to the frontier as public.
  it.each([
    [{ ...doc, sensitivty: 'restricted' }, 'sensitivty'],
    [{ ...doc, items: [{ id: 'a', text: 'x', sensitivity: 'restricted' }] }, 'items[0].sensitivity'],
    [{ ...doc, task: { type: 'summarize', instruction: 'short' } }, 'task.instruction'],
    [
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadline: 'PT1H',
        task: { instruction: 'x', preset: 'rename-api', params: { from: 'a', to: 'b', too: 'c' } },
        items: [{ path: 'a.js', content: 'x' }],
      },
      'task.params.too',
    ],
    [
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadline: 'PT1H',
        task: { instruction: 'x' },
        items: [{ path: 'a.js', content: 'x', text: 'y' }],
      },
      'items[0].text',
    ],
    [
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadline: 'PT1H',
        task: { instruction: 'x' },
        source: { repo: '/srv/app', branch: 'main' },
      },
      'source.branch',
    ],
  ])('refuses the unknown field in %j naming it', (body, field) => {
    const r = checkSubmission(body, limits, NOW);
    expect(r.ok ? null : r.errors).toContainEqual({ field, message: 'is not a known field' });
  });

  it.each([
    [{ ...doc, kind: 'translation' }, 'kind'],
    [{ ...doc, sensitivity: 'secret' }, 'sensitivity'],
    [{ ...doc, deadline: 'tomorrow' }, 'deadline'],
    [{ ...doc, deadline: '2020-01-01T00:00:00Z' }, 'deadline'],
    [{ ...doc, task: { type: 'translate' } }, 'task.type'],
    [{ ...doc, task: { type: 'classify' } }, 'task.labels'],
    [{ ...doc, task: { type: 'extract' } }, 'task.schema'],
    [{ ...doc, task: { type: 'summarize', labels: ['a', 'b'] } }, 'task.labels'],
    [{ ...doc, task: { type: 'extract', schema: { type: 'object' }, labels: ['a', 'b'] } }, 'task.labels'],
    [{ ...doc, task: { type: 'classify', labels: ['a', 'b'], schema: { type: 'object' } } }, 'task.schema'],
    [{ ...doc, task: { type: 'classify', labels: ['spam', 'ham', 'spam'] } }, 'task.labels'],
    [{ ...doc, task: { type: 'classify', labels: ['a', 'b'.repeat(201)] } }, 'task.labels[1]'],
    [{ ...doc, task: { type: 'classify', labels: Array.from({ length: 1001 }, (_, i) => `l${i}`) } }, 'task.labels'],
    [
      { ...doc, task: { type: 'classify', labels: Array.from({ length: 400 }, (_, i) => `${i}`.padEnd(200, 'x')) } },
      'task.labels',
    ],
    [{ ...doc, task: { type: 'summarize', schema: { type: 'object' } } }, 'task.schema'],
    [{ ...doc, task: { type: 'extract', schema: { properties: { a: { $ref: '#/$defs/missing' } } } } }, 'task.schema'],
    [{ ...doc, items: [] }, 'items'],
    [{ ...doc, items: [{ id: 'a', text: 5 }] }, 'items[0].text'],
    [
      {
        ...doc,
        items: [
          { id: 'a', text: 'x' },
          { id: 'a', text: 'y' },
        ],
      },
      'items[1].id',
    ],
    [{ ...doc, items: Array.from({ length: 4 }, (_, i) => ({ id: String(i), text: 'x' })) }, 'items'],
    [{ ...doc, task: { type: 'summarize', maxTokens: 100000 } }, 'task.maxTokens'],
    [
      { kind: 'code-migration', sensitivity: 'public', deadline: 'P1D', task: {}, items: [{ path: 'a', content: '' }] },
      'task.instruction',
    ],
    [{ ...doc, model: 'gpt-9' }, 'model'],
    [{ ...doc, items: [{ id: 'a', text: 'x', model: 'nope' }] }, 'items[0].model'],
    [[1, 2], 'body'],
    [null, 'body'],
  ])('rejects %j naming %s', (body, field) => {
    expect(fieldOf(body)).toBe(field);
  });

  it('says a value out of bounds is out of bounds, not of the wrong type', () => {
    const chat = (body: object, id = 'a') => ({
      kind: 'chat',
      sensitivity: 'internal',
      deadline: 'PT30S',
      items: [{ id, body: { messages: [{ role: 'user', content: 'hi' }], ...body } }],
    });
    const errorOf = (body: unknown) => {
      const r = checkSubmission(body, limits, NOW);
      return r.ok ? undefined : r.errors[0];
    };
    for (const [body, field, message] of [
      [chat({ temperature: 3 }), 'items[0].body.temperature', 'must be between 0 and 2'],
      [chat({ temperature: -0.5 }), 'items[0].body.temperature', 'must be between 0 and 2'],
      [chat({ top_p: 1.5 }), 'items[0].body.top_p', 'must be between 0 and 1'],
      [chat({ model: 'm'.repeat(300) }), 'items[0].body.model', /<=256 characters/],
      [chat({}, 'i'.repeat(600)), 'items[0].id', /<=512 characters/],
      [{ ...doc, items: [{ id: 'i'.repeat(600), text: 'x' }] }, 'items[0].id', /<=512 characters/],
      // The wrong type is still called that.
      [chat({ temperature: 'hot' }), 'items[0].body.temperature', 'must be a number'],
      [chat({ model: 5 }), 'items[0].body.model', 'must be a string'],
    ] as const) {
      const error = errorOf(body);
      expect(error?.field).toBe(field);
      if (typeof message === 'string') expect(error?.message).toBe(message);
      else expect(error?.message).toMatch(message);
    }
  });

  it("refuses a message's name, which a local model could not be shown, rather than honour it on the cloud only", () => {
    const named = { messages: [{ role: 'user', content: 'hi', name: 'bob' }] };
    const r = checkSubmission(
      { kind: 'chat', sensitivity: 'internal', deadline: 'PT30S', items: [{ id: 'a', body: named }] },
      limits,
      NOW,
    );
    expect(r.ok ? [] : r.errors).toEqual([
      { field: 'items[0].body.messages[0].name', message: 'is not a known field' },
    ]);
  });

  it('says once that a chat item has no messages, naming no message that is not there', () => {
    const r = checkSubmission(
      { kind: 'chat', sensitivity: 'internal', deadline: 'PT30S', items: [{ id: 'a', body: { messages: [] } }] },
      limits,
      NOW,
    );
    expect(r.ok ? [] : r.errors).toEqual([{ field: 'items[0].body.messages', message: 'needs at least one message' }]);
    const assistantLast = { messages: [{ role: 'assistant', content: 'prefill' }] };
    expect(
      fieldOf({ kind: 'chat', sensitivity: 'internal', deadline: 'PT30S', items: [{ id: 'a', body: assistantLast }] }),
    ).toBe('items[0].body.messages[0].role');
  });
});

describe('deadlines', () => {
  it('parses ISO-8601 durations', () => {
    expect(parseIsoDuration('PT30S')).toBe(30_000);
    expect(parseIsoDuration('P1D')).toBe(86_400_000);
    expect(parseIsoDuration('PT1H30M')).toBe(5_400_000);
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('P')).toBeNull();
    expect(parseIsoDuration('PT')).toBeNull();
  });

  it('refuses a duration of zero: due the moment it arrives', () => {
    for (const zero of ['PT0S', 'P0D', 'PT0H0M', 'P0Y0M0W'])
      expect([zero, parseDeadline(zero, NOW)]).toEqual([
        zero,
        { ok: false, message: 'must be a duration longer than zero' },
      ]);
    expect(parseDeadline('PT0.5S', NOW)).toEqual({ ok: true, at: NOW + 500 });
  });

  it('parses timestamps only with a zone', () => {
    expect(parseDeadline('2026-11-23T01:00:00Z', NOW)).toEqual({ ok: true, at: NOW + 3_600_000 });
    expect(parseDeadline('2026-11-23T02:00:00+01:00', NOW)).toEqual({ ok: true, at: NOW + 3_600_000 });
    expect(parseDeadline('2026-11-23T01:00:00+01:00', NOW)).toEqual({ ok: false, message: 'is in the past' });
    expect(parseDeadline('2026-11-23T01:00:00', NOW)).toMatchObject({ ok: false });
  });

  // Issue 13 §4: P300000Y was accepted and every read of its batch answered 500 (RangeError); 2030-02-30 rolled over.
  it.each([
    ['P300000Y', /at most 366 days ahead/],
    ['P99999999999999999999D', /at most 366 days ahead/],
    ['PT999999999999999999999H', /at most 366 days ahead/],
    ['P367D', /at most 366 days ahead/],
    ['2028-01-01T00:00:00Z', /at most 366 days ahead/],
    ['2027-02-30T00:00:00Z', /not a date in the calendar/],
    ['2027-02-29T00:00:00Z', /not a date in the calendar/],
    ['2026-13-01T00:00:00Z', /not a date in the calendar/],
    ['2026-12-01T24:00:00Z', /24:00:00Z is not a time of day/],
    ['2026-12-01T10:61:00Z', /not a time of day/],
    ['2026-12-01T10:00:00+25:00', /not a time of day/],
  ])('refuses %s naming why', (deadline, message) => {
    expect(parseDeadline(deadline, NOW)).toEqual({ ok: false, message: expect.stringMatching(message) });
    const r = checkSubmission({ ...doc, deadline }, limits, NOW);
    expect(r.ok ? null : r.errors[0]).toEqual({ field: 'deadline', message: expect.stringMatching(message) });
  });

  it('takes a deadline up to the horizon, and real leap days', () => {
    expect(parseIsoDuration('P366D')).toBe(366 * 86_400_000);
    expect(parseIsoDuration('P1Y')).toBe(365 * 86_400_000);
    expect(parseDeadline('2027-11-23T00:00:00Z', NOW)).toEqual({ ok: true, at: NOW + 365 * 86_400_000 });
    expect(parseDeadline('2028-02-29T00:00:00Z', Date.parse('2027-12-01T00:00:00Z'))).toMatchObject({ ok: true });
  });
});
