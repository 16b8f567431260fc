import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { defaultAnswer, doubleTokenCount, startOpenAIDouble, type OpenAIDouble } from './support/openai-double.js';

const SYSTEM = 'You summarise.';
const PROMPT = 'Summarise the quarterly report in one line.';
const messages = [
  { role: 'system' as const, content: SYSTEM },
  { role: 'user' as const, content: PROMPT },
];
const promptChars = SYSTEM.length + PROMPT.length;

function chat(double: OpenAIDouble, body: object, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(`${double.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'double-model', messages, ...body }),
    signal,
  });
}

/** The SDK with its own retries off, so each call is exactly one request. */
function sdk(double: OpenAIDouble, apiKey = 'sk-test') {
  return new OpenAI({ baseURL: double.url, apiKey, maxRetries: 0, timeout: 5_000, logLevel: 'off' });
}

describe('the OpenAI-compatible double', () => {
  let double: OpenAIDouble;

  beforeAll(async () => {
    double = await startOpenAIDouble();
  });
  afterEach(() => double.reset());
  afterAll(() => double.close());

  it('listens on loopback and gives a base URL ending in /v1', () => {
    expect(double.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  });

  it('answers a chat completion deterministically, with usage counted at four characters a token', async () => {
    const completion = await sdk(double).chat.completions.create({ model: 'double-model', messages });

    const text = defaultAnswer(promptChars);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('double-model');
    expect(completion.choices[0].message.content).toBe(text);
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage).toEqual({
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: doubleTokenCount(text),
      total_tokens: Math.ceil(promptChars / 4) + doubleTokenCount(text),
    });
  });

  it('stops at max_tokens or max_completion_tokens with finish_reason "length"', async () => {
    for (const limit of [{ max_tokens: 2 }, { max_completion_tokens: 2 }]) {
      const completion = await sdk(double).chat.completions.create({ model: 'double-model', messages, ...limit });
      expect(completion.choices[0].finish_reason).toBe('length');
      expect(completion.choices[0].message.content).toBe(defaultAnswer(promptChars).slice(0, 8));
      expect(completion.usage?.completion_tokens).toBe(2);
    }
  });

  it('records every request in order, with headers and parsed body', async () => {
    await sdk(double, 'sk-recorded').models.list();
    await chat(double, { max_tokens: 5 });
    await fetch(`${double.url}/nowhere`);

    expect(double.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v1/models',
      'POST /v1/chat/completions',
      'GET /v1/nowhere',
    ]);
    expect(double.requests[0].headers.authorization).toBe('Bearer sk-recorded');
    expect(double.requests[1].body).toMatchObject({ model: 'double-model', messages, max_tokens: 5 });
    expect(double.completionRequests()).toEqual([double.requests[1]]);
  });

  it('lists its models', async () => {
    const models = await sdk(double).models.list();
    expect(models.data.map((m) => m.id)).toEqual(['double-model']);
  });

  it('streams the same answer as SSE chunks, with a final usage chunk when asked', async () => {
    const stream = await sdk(double).chat.completions.create({
      model: 'double-model',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(defaultAnswer(promptChars));
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.at(-2)?.choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(doubleTokenCount(text));
  });

  it('ends the stream with data: [DONE] and sends no usage chunk unless asked', async () => {
    const res = await chat(double, { stream: true });
    const raw = await res.text();
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(raw).not.toContain('"usage"');
  });

  it('answers with the responder text when one is set', async () => {
    double.setResponder((body) => `echo: ${body.messages.at(-1).content}`);
    const completion = await sdk(double).chat.completions.create({ model: 'double-model', messages });
    expect(completion.choices[0].message.content).toBe(`echo: ${PROMPT}`);
  });

  it('serves a 429 with Retry-After and an OpenAI-style error, after recording the request', async () => {
    double.failNext(1, { status: 429, retryAfterSec: 7 });

    const limited = await chat(double, {});
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(await limited.json()).toEqual({
      error: { message: expect.any(String), type: 'requests', param: null, code: 'rate_limit_exceeded' },
    });
    expect((await chat(double, {})).status).toBe(200);
    expect(double.completionRequests()).toHaveLength(2);
  });

  it('serves 5xx faults to exactly the next n chat requests, in the order they were queued', async () => {
    double.failNext(2, { status: 500 });
    double.failNext(1, { status: 503 });
    await fetch(`${double.url}/models`); // not a chat request: consumes no fault

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat(double, {})).status);
    expect(statuses).toEqual([500, 500, 503, 200]);
  });

  it('delays answers by the configured latency', async () => {
    double.setLatency(150);
    const started = Date.now();
    await chat(double, {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hangs until the client gives up, and still records the request', async () => {
    double.failNext(1, { hang: true });
    await expect(chat(double, {}, {}, AbortSignal.timeout(200))).rejects.toThrow();
    expect(double.completionRequests()).toHaveLength(1);
    expect((await chat(double, {})).status).toBe(200);
  });

  it('cuts a stream after some chunks, so the client sees an error rather than an end', async () => {
    double.failNext(1, { cutStream: true });
    const stream = await sdk(double).chat.completions.create({ model: 'double-model', messages, stream: true });
    const received: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toThrow();
    expect(received.join('').length).toBeLessThan(defaultAnswer(promptChars).length);
  });

  it('cuts a plain answer midway through its body', async () => {
    double.failNext(1, { cutStream: true });
    const res = await chat(double, {});
    expect(res.status).toBe(200);
    await expect(res.json()).rejects.toThrow();
  });

  it('forgets requests, faults, latency and responder on reset', async () => {
    double.failNext(3, { status: 500 });
    double.setLatency(5_000);
    double.setResponder(() => 'custom');
    await fetch(`${double.url}/models`);
    double.reset();

    const completion = await sdk(double).chat.completions.create({ model: 'double-model', messages });
    expect(completion.choices[0].message.content).toBe(defaultAnswer(promptChars));
    expect(double.requests).toHaveLength(1);
  });

  it('is steered over HTTP by /__double/*, which it does not record', async () => {
    const root = double.url.replace(/\/v1$/, '');
    const post = (path: string, body: object) =>
      fetch(`${root}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    expect((await post('/__double/fault', { n: 1, fault: { status: 502 } })).status).toBe(200);
    expect((await chat(double, {})).status).toBe(502);
    const recorded = await (await fetch(`${root}/__double/requests`)).json();
    expect(recorded).toEqual([expect.objectContaining({ method: 'POST', path: '/v1/chat/completions' })]);

    await post('/__double/reset', {});
    expect(double.requests).toEqual([]);
    expect((await post('/__double/fault', { fault: { status: 500 } })).status).toBe(400);
  });
});

describe('the double with an API key', () => {
  let double: OpenAIDouble;

  beforeAll(async () => {
    double = await startOpenAIDouble({ apiKey: 'sk-right' });
  });
  afterAll(() => double.close());

  it('refuses a missing or wrong key with 401 and accepts the right one', async () => {
    expect((await chat(double, {})).status).toBe(401);
    expect((await chat(double, {}, { authorization: 'Bearer sk-wrong' })).status).toBe(401);
    expect((await chat(double, {}, { authorization: 'Bearer sk-right' })).status).toBe(200);
    expect(double.completionRequests()).toHaveLength(3);
  });
});

describe('closing the double', () => {
  it('closes promptly with a hung request in flight, and the client sees the connection drop', async () => {
    const double = await startOpenAIDouble();
    double.failNext(1, { hang: true });
    const hung = chat(double, {});
    await waitFor(() => double.requests.length === 1);

    const started = Date.now();
    await double.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(hung).rejects.toThrow();
  });
});

describe('the double as its own process', () => {
  let dir: string;

  beforeAll(async () => {
    // Transpile the two sources with SWC (already the jest transformer) so the test runs the
    // current code without a prior `npm run build`.
    const { transformFile } = createRequire(import.meta.url)('@swc/core') as typeof import('@swc/core');
    const support = fileURLToPath(new URL('./support/', import.meta.url));
    dir = await mkdtemp(join(tmpdir(), 'openai-double-'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    for (const name of ['openai-double', 'openai-double.cli']) {
      const { code } = await transformFile(join(support, `${name}.ts`), {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      });
      await writeFile(join(dir, `${name}.js`), code);
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints its URL as one JSON line, serves and records, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(dir, 'openai-double.cli.js'), '--port', '0'], {
      env: { ...process.env, OPENAI_DOUBLE_API_KEY: 'sk-cli' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stdout! });
      const [line] = (await once(lines, 'line')) as [string];
      lines.close();
      const { url } = JSON.parse(line) as { url: string };

      const completion = await new OpenAI({
        baseURL: url,
        apiKey: 'sk-cli',
        maxRetries: 0,
        logLevel: 'off',
      }).chat.completions.create({
        model: 'double-model',
        messages,
      });
      expect(completion.choices[0].message.content).toBe(defaultAnswer(promptChars));
      const recorded = await (await fetch(url.replace(/\/v1$/, '/__double/requests'))).json();
      expect(recorded).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
