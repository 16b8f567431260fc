import { describe, expect, it } from '@jest/globals';
import { MAX_JSON_DEPTH } from '#libs/domain';
import { parseBatchLines } from './batch-lines.js';

const limits = { maxOutputTokens: 512, maxLines: 3, maxLineBytes: 4096 };
const line = (customId: string, body: object, rest: object = {}) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body, ...rest });
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };

describe('the lines of an OpenAI batch input file', () => {
  it('turns valid lines into chat items by custom_id, skipping blank lines', () => {
    const parts = {
      ...body,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    };
    const check = parseBatchLines(`${line('a', body)}\n\n${line('b', parts)}\n`, limits);
    expect(check).toEqual({
      ok: true,
      lines: {
        items: [
          { id: 'a', body },
          { id: 'b', body: { ...body, messages: [{ role: 'user', content: 'ab' }] } },
        ],
        lines: [1, 3],
        errors: [],
        total: 2,
      },
    });
  });

  it('reads a file as Windows tools write it: a byte-order mark first, CRLF line ends', () => {
    const check = parseBatchLines(`\uFEFF${line('a', body)}\r\n${line('b', body)}\r\n\r\n`, limits);
    expect(check).toMatchObject({ ok: true, lines: { items: [{ id: 'a' }, { id: 'b' }], errors: [], total: 2 } });
    // A mark anywhere but the start is the line's own content, and JSON does not allow it.
    expect(parseBatchLines(`${line('a', body)}\n\uFEFF${line('b', body)}`, limits)).toMatchObject({
      ok: true,
      lines: { items: [{ id: 'a' }], errors: [{ line: 2, code: 'invalid_json' }] },
    });
  });

  it('reads the bytes of a file as UTF-8, and refuses a line that is not, never running it with its bytes replaced', () => {
    const utf8 = (text: string) => Buffer.from(text, 'utf8');
    const cafe = { ...body, messages: [{ role: 'user', content: 'café' }] };
    // The same file as bytes reads as the same file as text: a byte-order mark first, CRLF ends, non-ASCII text.
    const text = `\uFEFF${line('a', cafe)}\r\n${line('b', body)}\r\n`;
    expect(parseBatchLines(utf8(text), limits)).toEqual(parseBatchLines(text, limits));
    expect(parseBatchLines(utf8(text), limits)).toMatchObject({
      ok: true,
      lines: { items: [{ id: 'a', body: cafe }, { id: 'b' }] },
    });
    // Line 2 written in latin1 (é as the lone byte 0xE9): that line is refused as not JSON text, the others run.
    const latin1 = Buffer.concat([
      utf8(`\uFEFF${line('a', body)}\n`),
      Buffer.from(`${line('b', cafe)}\n`, 'latin1'),
      utf8(`\n${line('c', cafe)}\n`),
    ]);
    const check = parseBatchLines(latin1, limits);
    expect(check).toEqual({
      ok: true,
      lines: {
        items: [
          { id: 'a', body },
          { id: 'c', body: cafe },
        ],
        lines: [1, 4],
        errors: [
          {
            line: 2,
            customId: null,
            code: 'invalid_json',
            message: 'line is not valid UTF-8 (JSON text is UTF-8)',
            param: null,
          },
        ],
        total: 3,
      },
    });
    // A mark anywhere but the start of the file stays the line's own content, as in text.
    expect(
      parseBatchLines(Buffer.concat([latin1, utf8(`\uFEFF${line('d', body)}`)]), { ...limits, maxLines: 5 }),
    ).toMatchObject({
      lines: { errors: [{ line: 2 }, { line: 5, code: 'invalid_json' }] },
    });
  });

  it('reads a field set to null, or one Switchyard does not take at its OpenAI default, as left out, as OpenAI does', () => {
    const nulls = { ...body, temperature: null, max_tokens: null, seed: null, stop: null, n: 1, logprobs: null };
    const check = parseBatchLines(line('a', nulls), limits);
    // OpenAI's playground exports every request with these; SDK wrappers send stream and logprobs false.
    const defaults = {
      ...body,
      n: 1,
      logprobs: false,
      stream: false,
      store: false,
      frequency_penalty: 0,
      presence_penalty: 0,
    };
    expect(parseBatchLines(line('a', defaults), limits)).toEqual({
      ok: true,
      lines: { items: [{ id: 'a', body }], lines: [1], errors: [], total: 1 },
    });
    for (const [field, value] of [
      ['n', 2],
      ['logprobs', true],
      ['stream', true],
      ['store', true],
      ['frequency_penalty', 0.5],
      ['presence_penalty', -1],
      ['frequency_penalty', '0'],
    ] as const) {
      expect(parseBatchLines(line('a', { ...body, [field]: value }), limits)).toMatchObject({
        lines: { items: [], errors: [{ param: `body.${field}`, message: `body.${field} is not a known field` }] },
      });
    }
    expect(check.ok && check.lines).toMatchObject({ errors: [] });
    // Dropped, not kept as null: what reaches a provider or a local model is the body without them.
    expect(check.ok && check.lines.items).toEqual([{ id: 'a', body }]);
    expect(parseBatchLines(line('a', { ...body, messages: null }), limits)).toMatchObject({
      ok: true,
      lines: { items: [], errors: [{ line: 1, param: 'body.messages' }] },
    });
    expect(parseBatchLines(line('a', { ...body, n: 2 }), limits)).toMatchObject({
      lines: { errors: [{ param: 'body.n' }] },
    });
  });

  it("reads a message's optional field set to null as left out: an answer's message sent back as history", () => {
    // An output line's message, as Switchyard and OpenAI write it (`refusal: null`); the SDK's assistant message
    // param types refusal, audio and function_call as `T | null`.
    const answer = { role: 'assistant', content: 'Hello', refusal: null, audio: null, function_call: null };
    const history = [{ role: 'user', content: 'Hi', name: null }, answer, { role: 'user', content: 'And?' }];
    const check = parseBatchLines(line('a', { ...body, messages: history }), limits);
    expect(check).toMatchObject({ ok: true, lines: { errors: [] } });
    expect(check.ok && check.lines.items[0].body.messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'And?' },
    ]);
    // Set, they are still refused; a null role or content is named as wrong.
    for (const [message, param] of [
      [{ ...answer, refusal: 'no' }, 'body.messages[1].refusal'],
      [{ ...answer, content: null }, 'body.messages[1].content'],
      [{ ...answer, role: null }, 'body.messages[1].role'],
    ] as const) {
      const refused = parseBatchLines(line('a', { ...body, messages: [history[0], message, history[2]] }), limits);
      expect(refused).toMatchObject({ lines: { items: [], errors: [{ param }] } });
    }
  });

  it('names the line and field of each invalid line, and keeps the valid ones', () => {
    const content = [
      line('x', { ...body, logprobs: true }),
      line('y', body, { url: '/v1/embeddings' }),
      line('z', { ...body, messages: [{ role: 'assistant', content: 'prefill' }] }),
    ].join('\n');
    const check = parseBatchLines(content, limits);
    if (!check.ok) throw new Error(check.message);
    expect(check.lines.items).toEqual([]);
    expect(check.lines.errors).toEqual([
      {
        line: 1,
        customId: 'x',
        code: 'invalid_request',
        message: 'body.logprobs is not a known field',
        param: 'body.logprobs',
      },
      expect.objectContaining({ line: 2, customId: 'y', param: 'url' }),
      expect.objectContaining({ line: 3, customId: 'z', param: 'body.messages[0].role' }),
    ]);
  });

  it('says a line that is JSON but not an object is not one, rather than naming its body field', () => {
    const check = parseBatchLines(['[1, 2]', 'null', '"text"', line('ok', body)].join('\n'), {
      ...limits,
      maxLines: 4,
    });
    const notObject = {
      customId: null,
      code: 'invalid_request',
      message: expect.stringMatching(/^line must be a JSON object/),
      param: null,
    };
    expect(check).toMatchObject({
      ok: true,
      lines: { items: [{ id: 'ok' }], errors: [1, 2, 3].map((at) => ({ ...notObject, line: at })) },
    });
  });

  it('a line without a body, or with one that is no object, says what the body must be', () => {
    const missing = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions' });
    for (const text of [missing, line('b', 'hello' as unknown as object)]) {
      const check = parseBatchLines(text, limits);
      if (!check.ok) throw new Error(check.message);
      expect(check.lines.errors[0]).toMatchObject({
        param: 'body',
        message: expect.stringMatching(/^body must be an object: a chat-completions request/),
      });
    }
  });

  it('refuses max_tokens over MAX_OUTPUT_TOKENS and a json_schema the checker refuses', () => {
    const check = parseBatchLines(line('a', { ...body, max_tokens: 513 }), limits);
    expect(check.ok && check.lines.errors[0].param).toBe('body.max_tokens');
  });

  it('refuses a line nested past MAX_JSON_DEPTH as that line, however deep, and runs the others', () => {
    const nested = (depth: number) =>
      line('deep', {
        ...body,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { a: '@' } } },
      }).replace('"@"', `${'['.repeat(depth)}${']'.repeat(depth)}`);
    for (const depth of [MAX_JSON_DEPTH, 20_000]) {
      const check = parseBatchLines(`${line('a', body)}\n${nested(depth)}\n`, { ...limits, maxLineBytes: 1 << 20 });
      if (!check.ok) throw new Error(check.message);
      expect(check.lines.items.map((i) => i.id)).toEqual(['a']);
      expect(check.lines.errors).toEqual([
        {
          line: 2,
          customId: null,
          code: 'invalid_request',
          message: expect.stringMatching(
            new RegExp(`^line nests deeper than ${MAX_JSON_DEPTH} levels \\(at byte \\d+\\)$`),
          ),
          param: null,
        },
      ]);
    }
    // Brackets inside a string are text, not depth: the schema's own limit judges a schema within the line's.
    const inText = parseBatchLines(
      line('t', { ...body, messages: [{ role: 'user', content: '['.repeat(500) }] }),
      limits,
    );
    expect(inText.ok && inText.lines.items.map((i) => i.id)).toEqual(['t']);
  });

  it('refuses a whole file written in UTF-16, naming the encoding, rather than every line of it as not JSON', () => {
    const text = `\uFEFF${line('a', body)}\r\n${line('b', body)}\r\n`;
    for (const bytes of [Buffer.from(text, 'utf16le'), Buffer.from(text, 'utf16le').swap16()])
      expect(parseBatchLines(bytes, limits)).toEqual({ ok: false, message: expect.stringMatching(/is UTF-16.*UTF-8/) });
    // A UTF-8 file that starts with those bytes' characters is UTF-8 all the same: its BOM is EF BB BF.
    expect(parseBatchLines(Buffer.from(text, 'utf8'), limits)).toMatchObject({ ok: true, lines: { total: 2 } });
  });

  it('refuses a whole file that holds no request or more than a batch may hold', () => {
    expect(parseBatchLines('\n\n', limits)).toEqual({ ok: false, message: 'the input file holds no request' });
    const four = Array.from({ length: 4 }, (_, i) => line(`l${i}`, body)).join('\n');
    expect(parseBatchLines(four, limits)).toMatchObject({ ok: false });
  });
});
