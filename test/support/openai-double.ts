import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A stand-in for an OpenAI-compatible chat-completions service (OpenAI, vLLM, llama.cpp server).
 * It records every request before any fault is applied, so a test can prove what left the
 * premises, and it can be told to fail: 429 with Retry-After, 5xx, hang, or a stream cut midway.
 * It answers only what Switchyard uses: POST /v1/chat/completions (plain and SSE, with `service_tier` as
 * OpenAI takes and echoes it), GET /v1/models, and the Batch API's files and batches (setBatchHabits sets when
 * a provider batch ends and how).
 * With setEngine it also serves a serving engine's capacity endpoints: llama-server's GET /slots and GET /metrics,
 * or vLLM's GET /metrics, from the chat completions it is answering (issue 17 §4).
 * `/__double/*` is its control plane for other processes (see openai-double.cli.ts); those calls
 * are not traffic to the service and are never recorded.
 */

export interface RecordedRequest {
  /** Epoch milliseconds when the request's body had been read. */
  at: number;
  method: string;
  /** Path including any query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, the raw text otherwise, undefined when empty. */
  body: any;
}

export type DoubleFault =
  { status: 400 | 429 | 500 | 502 | 503; retryAfterSec?: number } | { hang: true } | { cutStream: true };

/**
 * Habits of real OpenAI-compatible servers that Switchyard must cope with, reproduced on demand (seen with llama.cpp's
 * `llama-server`, vLLM, TGI, Ollama, OpenRouter and the proxies in front of them): set with setHabits, kept until
 * reset().
 */
export interface ServerHabits {
  /**
   * Answer 400 `invalid_request_error` to every request carrying `response_format`, as llama-server does
   * when its model has no usable chat template.
   */
  refuseResponseFormat?: boolean;
  /**
   * Answer 400 `unsupported_parameter` to every request carrying `max_tokens`, in OpenAI's words, as its
   * reasoning models (o1, o3, o4-mini, gpt-5) do; `max_completion_tokens` is taken.
   */
  refuseMaxTokens?: boolean;
  /**
   * The served context: a prompt of more tokens (the double's count) gets llama-server's 400
   * `exceed_context_size_error` body, with `n_prompt_tokens` and `n_ctx`.
   */
  contextTokens?: number;
  /**
   * Reported `prompt_tokens` is the double's count times this (a server reusing its prompt cache reports
   * fewer than a tokenizer counts; another tokenizer more).
   */
  promptTokensScale?: number;
  /**
   * Extra delay before answering a request sent with `service_tier: "flex"` (flex is slower than standard),
   * on top of setLatency's.
   */
  flexLatencyMs?: number;
  /**
   * How an answer's `usage` comes back (chat completions, streamed or not, and provider batch output lines):
   * `omit` (no field, as servers that count nothing), `null` (`usage: null`), `partial` (only `completion_tokens`,
   * the other counts null, as some proxies pass on what their backend said), `sparse` (only `completion_tokens`, the
   * others left out), `zero` (every count 0, as a server reporting a cached prompt or an unfilled record). Unset: the
   * double's counts.
   */
  usage?: 'omit' | 'null' | 'partial' | 'sparse' | 'zero';
  /**
   * The finish_reason of every answer instead of "stop" (or "length" for one cut at its max_tokens): TGI's and
   * Together's "eos" or "eos_token", OpenRouter's "error", `null` as servers that leave it unset.
   */
  finishReason?: string | null;
  /**
   * The shape of `message.content`: `null` (the text only in `reasoning_content`, as vLLM's reasoning parser leaves
   * a model that never closed its reasoning), or `parts` (an array: a `thinking` part, then the answer as a `text`
   * part, as Mistral's reasoning models answer).
   */
  content?: 'null' | 'parts';
  /**
   * Every answer is the model declining, as OpenAI's models do under structured outputs: `content` null and the
   * declining words in `refusal`, finish_reason "stop".
   */
  refuse?: boolean;
  /**
   * Every chat completion is answered HTTP 200 with `{"error": {...}}` and no choices, as OpenRouter reports an
   * upstream provider's failure (`code` the HTTP status it stands for).
   */
  errorInBody?: { code: number; message: string };
}

/**
 * How the double's Batch API (POST /v1/files, /v1/batches) behaves from now on: set with setBatchHabits, kept
 * until reset(). Every provider batch is answered by the same rules as a chat completion (buildAnswer).
 */
export interface BatchHabits {
  /** A provider batch is `in_progress` until this long after its creation, then ends (default 0: at once). */
  completeAfterMs?: number;
  /** How a provider batch ends: `completed` (the default), `failed` (no output), `expired` (no output). */
  ending?: 'completed' | 'failed' | 'expired';
  /** Lines (by custom_id) that go to the error file instead of the output file. */
  failLines?: string[];
}

/**
 * The serving engine the double plays from setEngine on: what its capacity endpoints report. Requests it is
 * answering count as running (on a slot, for llama-server; beyond the slots, deferred), on top of `others`.
 */
export interface EngineHabits {
  kind: 'llama-server' | 'vllm';
  /** llama-server's parallel slots (its --parallel); 4 unless set. */
  slots?: number;
  /** llama-server: each slot's n_ctx. */
  slotContext?: number;
  /** Load from clients other than Switchyard: requests running and waiting in the engine. */
  othersRunning?: number;
  othersWaiting?: number;
  /** KV-cache usage the engine reports, 0–1 (0 unless set). */
  kvUsage?: number;
  /** The engine is gone: every service request's connection is dropped unanswered (as a killed server's). */
  down?: boolean;
}

/** A provider batch the double holds: what was asked, and what it has become. */
export interface DoubleBatch {
  id: string;
  inputFileId: string;
  metadata: Record<string, string> | null;
  createdAt: number;
  status: string;
  outputFileId: string | null;
  errorFileId: string | null;
  cancelledAt: number | null;
  completedAt: number | null;
}

export interface OpenAIDoubleOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Loopback by default: the double is never reachable from outside the machine. */
  host?: string;
  /** When set, every service request must carry `Authorization: Bearer <apiKey>` or gets a 401. */
  apiKey?: string;
  /** Ids listed by GET /v1/models; the first one answers requests that name no model. */
  models?: string[];
}

export interface OpenAIDouble {
  /** Base URL including /v1, for the openai SDK's `baseURL`. */
  url: string;
  /** Every service request received, in order, recorded before any fault is applied. */
  requests: RecordedRequest[];
  /** Only POST /v1/chat/completions. */
  completionRequests(): RecordedRequest[];
  /**
   * The next `n` chat-completion requests get `fault` (after `pass` more are answered normally); calls
   * queue up behind earlier ones.
   */
  failNext(n: number, fault: DoubleFault, pass?: number): void;
  /**
   * The next `n` requests sent with `service_tier: "flex"` get OpenAI's 429 "resource unavailable" (flex out of
   * capacity); standard requests are unaffected.
   */
  flexUnavailable(n: number): void;
  /** The Batch API's behaviour from now on (replacing earlier habits). */
  setBatchHabits(habits: BatchHabits): void;
  /** Provider batches created so far, in order. */
  batches(): DoubleBatch[];
  /** An uploaded file's content (JSONL for a batch's input), undefined for an unknown id. */
  fileContent(id: string): string | undefined;
  /** Drops faults still queued, keeping the record (reset() would forget the requests too). */
  clearFaults(): void;
  /** Delay before every chat-completion answer (and before a fault is served). */
  setLatency(ms: number): void;
  /**
   * Which keys are accepted from now on (`Authorization: Bearer <key>`), replacing `apiKey`; null accepts
   * any. For key-rotation tests: each recorded request keeps the header it came with.
   */
  acceptKeys(keys: string[] | null): void;
  /**
   * Custom answer text from the request body; `null` falls back to the default answer. An answer longer
   * than the request's max_tokens (four characters a token) is cut there, with finish_reason "length":
   * a long JSON answer comes back as truncated JSON, as from a real server.
   */
  setResponder(fn: ((body: any) => string | null) | null): void;
  /** Real servers' habits from now on (replacing earlier ones); `{}` for none. */
  setHabits(habits: ServerHabits): void;
  /**
   * While on, a structured request (response_format json_schema) is answered with an object of its
   * schema whose every number is `9e879`, as llama.cpp's JSON grammar may write: JSON.parse reads it as
   * Infinity. Before the responder. Off again on reset().
   */
  answerOverflowingNumbers(on: boolean): void;
  /**
   * Plays a serving engine from now on (GET /slots, GET /metrics; `null`: none, the default). Kept across reset().
   * Capacity reads are not recorded in `requests`: they are polls, not traffic that carries items.
   */
  setEngine(engine: EngineHabits | null): void;
  /** The most chat completions it was answering at once since the start or the last resetInFlightPeak(). */
  inFlightPeak(): number;
  resetInFlightPeak(): void;
  /** Forgets requests, queued faults, latency and responder; accepts `apiKey` again. */
  reset(): void;
  /** Closes the listener and every socket, hung ones included. */
  close(): Promise<void>;
}

const COMPLETIONS_PATH = '/v1/chat/completions';
const CONTROL_PREFIX = '/__double/';

/** The double's token count: one token per four characters, rounded up. Deterministic by design. */
export function doubleTokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The default answer depends only on the prompt's length, so tests can predict it. */
export function defaultAnswer(promptChars: number): string {
  return `Deterministic answer for a ${promptChars}-character prompt.`;
}

export async function startOpenAIDouble(opts: OpenAIDoubleOptions = {}): Promise<OpenAIDouble> {
  const models = opts.models?.length ? opts.models : ['double-model'];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  /** null: a request answered normally before the faults behind it (failNext's `pass`). */
  let faults: Array<DoubleFault | null> = [];
  let flexUnavailableLeft = 0;
  let batchHabits: BatchHabits = {};
  const files = new Map<string, { filename: string; purpose: string; content: string; createdAt: number }>();
  const batches: DoubleBatch[] = [];
  let latencyMs = 0;
  let responder: ((body: any) => string | null) | null = null;
  let habits: ServerHabits = {};
  let overflowingNumbers = false;
  let acceptedKeys: string[] | null = opts.apiKey === undefined ? null : [opts.apiKey];
  let nextId = 1;
  let engine: EngineHabits | null = null;
  let inFlight = 0;
  let inFlightPeak = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const double: OpenAIDouble = {
    url: '',
    requests,
    completionRequests: () => requests.filter((r) => r.method === 'POST' && r.path === COMPLETIONS_PATH),
    failNext(n, fault, pass = 0) {
      for (let i = 0; i < pass; i++) faults.push(null);
      for (let i = 0; i < n; i++) faults.push(fault);
    },
    setBatchHabits(h) {
      batchHabits = { ...h };
    },
    batches: () => batches.map((b) => settle(b)),
    fileContent: (id) => files.get(id)?.content,
    flexUnavailable(n) {
      flexUnavailableLeft += n;
    },
    clearFaults() {
      faults = [];
      flexUnavailableLeft = 0;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    acceptKeys(keys) {
      acceptedKeys = keys === null ? null : [...keys];
    },
    setResponder(fn) {
      responder = fn;
    },
    setHabits(h) {
      habits = { ...h };
    },
    answerOverflowingNumbers(on) {
      overflowingNumbers = on;
    },
    setEngine(e) {
      engine = e === null ? null : { ...e };
      // A killed server drops the requests it was answering with it.
      if (engine?.down) for (const socket of sockets) socket.destroy();
    },
    inFlightPeak: () => inFlightPeak,
    resetInFlightPeak() {
      inFlightPeak = inFlight;
    },
    reset() {
      habits = {};
      acceptedKeys = opts.apiKey === undefined ? null : [opts.apiKey];
      requests.length = 0;
      faults = [];
      flexUnavailableLeft = 0;
      batchHabits = {};
      files.clear();
      batches.length = 0;
      latencyMs = 0;
      responder = null;
      overflowingNumbers = false;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = req.url ?? '/';
    const body = parseBody(raw);

    if (path.startsWith(CONTROL_PREFIX)) return control(req.method ?? 'GET', path, body, res);
    if (engine?.down) return void res.destroy();
    // llama-server in router mode asks `?model=` on these; one serving a single model ignores the query, as here.
    const route = path.split('?')[0];
    if (engine && req.method === 'GET' && (route === '/slots' || route === '/metrics')) {
      if (acceptedKeys !== null && !acceptedKeys.some((key) => req.headers.authorization === `Bearer ${key}`))
        return sendError(res, 401, 'Invalid API Key', 'authentication_error', null);
      return engineCapacity(engine, route, res);
    }

    requests.push({ at: Date.now(), method: req.method ?? 'GET', path, headers: flattenHeaders(req), body });

    if (acceptedKeys !== null && !acceptedKeys.some((key) => req.headers.authorization === `Bearer ${key}`)) {
      return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    if (req.method === 'GET' && path === '/v1/models') {
      const created = Math.floor(Date.now() / 1000);
      return sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created, owned_by: 'openai-double' })),
      });
    }
    if (req.method === 'POST' && path === COMPLETIONS_PATH) {
      inFlight += 1;
      inFlightPeak = Math.max(inFlightPeak, inFlight);
      res.once('close', () => (inFlight -= 1));
      return chatCompletion(body, res);
    }
    if (
      path === '/v1/files' ||
      path.startsWith('/v1/files/') ||
      path === '/v1/batches' ||
      path.startsWith('/v1/batches')
    )
      return batchApi(req.method ?? 'GET', path, req.headers['content-type'] ?? '', raw, body, res);
    return sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`, 'invalid_request_error', 'unknown_url');
  }

  async function chatCompletion(body: any, res: ServerResponse): Promise<void> {
    if (typeof body !== 'object' || body === null || !Array.isArray(body.messages)) {
      return sendError(res, 400, "'messages' is a required property", 'invalid_request_error', null);
    }
    const flex = body.service_tier === 'flex';
    const flexOut = flex && flexUnavailableLeft > 0;
    if (flexOut) flexUnavailableLeft -= 1;
    const fault = flexOut ? undefined : faults.shift();
    const delayMs = latencyMs + (flex ? (habits.flexLatencyMs ?? 0) : 0);
    if (delayMs > 0) await sleep(delayMs);
    if (res.destroyed) return;
    // OpenAI's words when flex has no capacity; it does not charge for the request.
    if (flexOut) return sendError(res, 429, 'Resource unavailable', 'resource_unavailable', 'resource_unavailable');

    if (fault && 'hang' in fault) return; // never answered; close() destroys the socket
    if (fault && 'status' in fault) {
      if (fault.retryAfterSec !== undefined) res.setHeader('retry-after', String(fault.retryAfterSec));
      if (fault.status === 429)
        return sendError(res, 429, 'Rate limit reached for requests.', 'requests', 'rate_limit_exceeded');
      // A refusal of the request itself, as OpenAI words an invalid one.
      if (fault.status === 400)
        return sendError(res, 400, 'Invalid request: the request was refused.', 'invalid_request_error', null);
      return sendError(
        res,
        fault.status,
        'The server had an error while processing your request.',
        'server_error',
        null,
      );
    }

    if (habits.refuseResponseFormat && body.response_format !== undefined) {
      // llama-server's words when the model's chat template cannot take a grammar-constrained request.
      return sendJson(res, 400, {
        error: { code: 400, message: 'Unsupported param: response_format', type: 'invalid_request_error' },
      });
    }
    if (habits.refuseMaxTokens && body.max_tokens !== undefined) {
      return sendJson(res, 400, {
        error: {
          message:
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
          type: 'invalid_request_error',
          param: 'max_tokens',
          code: 'unsupported_parameter',
        },
      });
    }
    const promptTokens = doubleTokenCount(promptText(body.messages));
    if (habits.contextTokens !== undefined && promptTokens > habits.contextTokens) {
      return sendJson(res, 400, {
        error: {
          code: 400,
          message: 'the request exceeds the available context size, try increasing it',
          type: 'exceed_context_size_error',
          n_prompt_tokens: promptTokens,
          n_ctx: habits.contextTokens,
        },
      });
    }
    if (habits.errorInBody) {
      const { code, message } = habits.errorInBody;
      return sendJson(res, 200, { error: { code, message, metadata: { provider_name: 'upstream' } }, user_id: 'u-1' });
    }
    const answer = buildAnswer(body);
    const cut = fault != null && 'cutStream' in fault;
    if (body.stream === true) return stream(body, answer, cut, res);

    const payload = JSON.stringify({
      id: `chatcmpl-double-${nextId++}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: answer.model,
      service_tier: answer.serviceTier,
      choices: [{ index: 0, message: messageOf(answer.text), finish_reason: answer.finishReason, logprobs: null }],
      ...usageField(answer.usage),
    });
    if (!cut) return sendRaw(res, 200, payload);
    // Announce the whole body, deliver half of it, then drop the connection.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.write(payload.slice(0, Math.floor(payload.length / 2)), () => res.socket?.destroy());
  }

  function buildAnswer(body: any) {
    const promptChars = promptText(body.messages).length;
    const schema = body.response_format?.json_schema?.schema;
    const overflowing = overflowingNumbers && schema !== undefined ? overflowingAnswer(schema) : null;
    const full = overflowing ?? responder?.(body) ?? defaultAnswer(promptChars);
    const limit = firstNumber(body.max_completion_tokens, body.max_tokens);
    const truncated = limit !== undefined && doubleTokenCount(full) > limit;
    const text = truncated ? full.slice(0, limit * 4) : full;
    const prompt_tokens = Math.round(Math.ceil(promptChars / 4) * (habits.promptTokensScale ?? 1));
    const completion_tokens = doubleTokenCount(text);
    const cutReason = truncated ? 'length' : 'stop';
    return {
      model: typeof body.model === 'string' ? body.model : models[0],
      // The tier that served it, as OpenAI echoes it: what was asked for, else the default one.
      serviceTier:
        typeof body.service_tier === 'string' && body.service_tier !== 'auto' ? body.service_tier : 'default',
      text,
      finishReason: habits.finishReason === undefined ? cutReason : habits.finishReason,
      usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    };
  }

  /** The assistant message for `text`, in the shape the habits say (ServerHabits.content). */
  function messageOf(text: string): Record<string, unknown> {
    if (habits.refuse) return { role: 'assistant', content: null, refusal: "I'm sorry, I can't help with that." };
    if (habits.content === 'null') return { role: 'assistant', content: null, reasoning_content: text };
    if (habits.content === 'parts')
      return {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: [{ type: 'text', text: 'Let me think.' }] },
          { type: 'text', text },
        ],
      };
    return { role: 'assistant', content: text };
  }

  /** The `usage` field of an answer as the habits say (ServerHabits.usage): spread into the body. */
  function usageField(usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number }) {
    switch (habits.usage) {
      case 'omit':
        return {};
      case 'null':
        return { usage: null };
      case 'partial':
        return { usage: { prompt_tokens: null, completion_tokens: usage.completion_tokens, total_tokens: null } };
      case 'sparse':
        return { usage: { completion_tokens: usage.completion_tokens } };
      case 'zero':
        return { usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
      default:
        return { usage };
    }
  }

  function stream(body: any, answer: ReturnType<typeof buildAnswer>, cut: boolean, res: ServerResponse): void {
    const includeUsage = body.stream_options?.include_usage === true;
    const base = {
      id: `chatcmpl-double-${nextId++}`,
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model: answer.model,
      service_tier: answer.serviceTier,
    };
    const chunk = (delta: object, finish_reason: string | null) => ({
      ...base,
      choices: [{ index: 0, delta, finish_reason, logprobs: null }],
      ...(includeUsage ? { usage: null } : {}),
    });
    const pieces = answer.text.match(/.{1,8}/gs) ?? [];
    const events: object[] = [
      chunk({ role: 'assistant', content: '' }, null),
      ...pieces.map((content) => chunk({ content }, null)),
    ];

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    if (cut) {
      // The role chunk and at most the first piece, then the connection drops mid-answer.
      const sent = events.slice(0, Math.min(2, events.length));
      res.write(sent.map(sse).join(''), () => res.socket?.destroy());
      return;
    }
    events.push(chunk({}, answer.finishReason));
    const usage = usageField(answer.usage);
    if (includeUsage && 'usage' in usage) events.push({ ...base, choices: [], ...usage });
    res.end(events.map(sse).join('') + 'data: [DONE]\n\n');
  }

  /** The Files and Batches endpoints a provider batch goes through (OpenAI's shapes, what the openai SDK reads). */
  function batchApi(
    method: string,
    path: string,
    contentType: string,
    raw: string,
    body: any,
    res: ServerResponse,
  ): void {
    const now = Date.now();
    if (method === 'POST' && path === '/v1/files') {
      const upload = multipartFile(contentType, raw);
      if (!upload) return sendError(res, 400, "'file' is a required property", 'invalid_request_error', null);
      const id = `file-double-${nextId++}`;
      files.set(id, { ...upload, createdAt: now });
      return sendJson(res, 200, fileObject(id));
    }
    const content = /^\/v1\/files\/([^/]+)\/content$/.exec(path);
    if (method === 'GET' && content) {
      const file = files.get(content[1]);
      if (!file) return sendError(res, 404, `No such File object: ${content[1]}`, 'invalid_request_error', null);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return void res.end(file.content);
    }
    if (method === 'POST' && path === '/v1/batches') {
      if (!files.has(body?.input_file_id))
        return sendError(res, 400, 'input_file_id is not a file', 'invalid_request_error', null);
      if (body?.completion_window !== '24h')
        return sendError(res, 400, 'completion_window must be 24h', 'invalid_request_error', null);
      const batch: DoubleBatch = {
        id: `batch_double_${nextId++}`,
        inputFileId: body.input_file_id,
        metadata: body.metadata ?? null,
        createdAt: now,
        status: 'in_progress',
        outputFileId: null,
        errorFileId: null,
        cancelledAt: null,
        completedAt: null,
      };
      batches.push(batch);
      return sendJson(res, 200, batchObject(batch));
    }
    if ((method === 'GET' && path.startsWith('/v1/batches?')) || (method === 'GET' && path === '/v1/batches')) {
      const data = [...batches].reverse().map((b) => batchObject(settle(b)));
      return sendJson(res, 200, {
        object: 'list',
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: false,
      });
    }
    const one = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
    const batch = one && batches.find((b) => b.id === one[1]);
    if (!batch) return sendError(res, 404, `No such Batch: ${one?.[1] ?? path}`, 'invalid_request_error', null);
    if (method === 'GET' && !one[2]) return sendJson(res, 200, batchObject(settle(batch)));
    if (method === 'POST' && one[2]) {
      settle(batch);
      if (batch.status === 'in_progress') {
        // Nothing was answered yet: OpenAI charges only for lines done before the cancel, here none.
        batch.status = 'cancelled';
        batch.cancelledAt = now;
      }
      return sendJson(res, 200, batchObject(batch));
    }
    return sendError(res, 404, `Unknown request URL: ${method} ${path}.`, 'invalid_request_error', 'unknown_url');
  }

  /** A provider batch as of now: once its time has come, it ends as batchHabits say, its files written. */
  function settle(batch: DoubleBatch): DoubleBatch {
    if (batch.status !== 'in_progress' || Date.now() - batch.createdAt < (batchHabits.completeAfterMs ?? 0))
      return batch;
    const ending = batchHabits.ending ?? 'completed';
    batch.status = ending;
    if (ending !== 'completed') return batch;
    batch.completedAt = Date.now();
    const failing = new Set(batchHabits.failLines ?? []);
    const output: string[] = [];
    const errors: string[] = [];
    for (const raw of (files.get(batch.inputFileId)?.content ?? '').split('\n')) {
      if (raw.trim() === '') continue;
      const line = JSON.parse(raw);
      if (failing.has(line.custom_id)) {
        errors.push(
          JSON.stringify({
            id: `batch_req_${nextId++}`,
            custom_id: line.custom_id,
            response: {
              status_code: 500,
              request_id: '',
              body: { error: { message: 'The server had an error', type: 'server_error', code: 'server_error' } },
            },
            error: null,
          }),
        );
        continue;
      }
      const answer = buildAnswer(line.body);
      const completion = {
        id: `chatcmpl-double-${nextId++}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: answer.model,
        service_tier: 'batch',
        choices: [{ index: 0, message: messageOf(answer.text), finish_reason: answer.finishReason, logprobs: null }],
        ...usageField(answer.usage),
      };
      output.push(
        JSON.stringify({
          id: `batch_req_${nextId++}`,
          custom_id: line.custom_id,
          response: { status_code: 200, request_id: '', body: completion },
          error: null,
        }),
      );
    }
    const write = (lines: string[]) => {
      if (lines.length === 0) return null;
      const id = `file-double-${nextId++}`;
      files.set(id, {
        filename: `${batch.id}.jsonl`,
        purpose: 'batch_output',
        content: lines.join('\n') + '\n',
        createdAt: Date.now(),
      });
      return id;
    };
    batch.outputFileId = write(output);
    batch.errorFileId = write(errors);
    return batch;
  }

  function fileObject(id: string) {
    const f = files.get(id)!;
    return {
      id,
      object: 'file',
      bytes: Buffer.byteLength(f.content),
      created_at: Math.floor(f.createdAt / 1000),
      filename: f.filename,
      purpose: f.purpose,
      status: 'processed',
    };
  }

  function batchObject(b: DoubleBatch) {
    const lines = (files.get(b.inputFileId)?.content ?? '').split('\n').filter((l) => l.trim() !== '').length;
    const failed = b.status === 'completed' ? (batchHabits.failLines ?? []).length : 0;
    const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
    return {
      id: b.id,
      object: 'batch',
      endpoint: '/v1/chat/completions',
      errors: null,
      input_file_id: b.inputFileId,
      completion_window: '24h',
      status: b.status,
      output_file_id: b.outputFileId,
      error_file_id: b.errorFileId,
      created_at: sec(b.createdAt),
      in_progress_at: sec(b.createdAt),
      expires_at: sec(b.createdAt + 86_400_000),
      completed_at: sec(b.completedAt),
      cancelled_at: sec(b.cancelledAt),
      request_counts: { total: lines, completed: b.status === 'completed' ? lines - failed : 0, failed },
      metadata: b.metadata,
    };
  }

  /** llama-server's /slots and /metrics, or vLLM's /metrics, as the engine would report the load it has now. */
  function engineCapacity(e: EngineHabits, path: string, res: ServerResponse): void {
    const running = inFlight + (e.othersRunning ?? 0);
    const kv = e.kvUsage ?? 0;
    if (e.kind === 'llama-server') {
      const slots = e.slots ?? 4;
      const processing = Math.min(running, slots);
      const deferred = running - processing + (e.othersWaiting ?? 0);
      if (path === '/slots')
        return sendJson(
          res,
          200,
          Array.from({ length: slots }, (_, id) => ({
            id,
            id_task: id < processing ? 1000 + id : -1,
            n_ctx: e.slotContext ?? 4096,
            speculative: false,
            is_processing: id < processing,
            params: { n_predict: -1, temperature: 0.8 },
            prompt: '',
          })),
        );
      return sendText(res, [
        '# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.',
        '# TYPE llamacpp:prompt_tokens_total counter',
        `llamacpp:prompt_tokens_total ${nextId * 10}`,
        '# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.',
        '# TYPE llamacpp:kv_cache_usage_ratio gauge',
        `llamacpp:kv_cache_usage_ratio ${kv}`,
        '# HELP llamacpp:requests_processing Number of requests processing.',
        '# TYPE llamacpp:requests_processing gauge',
        `llamacpp:requests_processing ${processing}`,
        '# HELP llamacpp:requests_deferred Number of requests deferred.',
        '# TYPE llamacpp:requests_deferred gauge',
        `llamacpp:requests_deferred ${deferred}`,
      ]);
    }
    if (path === '/slots')
      return sendError(res, 404, `Unknown request URL: GET ${path}.`, 'invalid_request_error', 'unknown_url');
    const model = `model_name="${models[0]}"`;
    return sendText(res, [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      `vllm:num_requests_running{${model}} ${running.toFixed(1)}`,
      '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
      '# TYPE vllm:num_requests_waiting gauge',
      `vllm:num_requests_waiting{${model}} ${(e.othersWaiting ?? 0).toFixed(1)}`,
      '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.',
      '# TYPE vllm:kv_cache_usage_perc gauge',
      `vllm:kv_cache_usage_perc{${model}} ${kv}`,
    ]);
  }

  function control(method: string, path: string, body: any, res: ServerResponse): void {
    if (method === 'GET' && path === `${CONTROL_PREFIX}requests`) return sendJson(res, 200, requests);
    if (method === 'POST' && path === `${CONTROL_PREFIX}fault`) {
      if (!Number.isInteger(body?.n) || typeof body?.fault !== 'object') {
        return sendError(res, 400, 'expected {"n": <integer>, "fault": {...}}', 'invalid_request_error', null);
      }
      double.failNext(body.n, body.fault);
      return sendJson(res, 200, { queued: faults.length });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}batch-habits`) {
      if (typeof body !== 'object' || body === null)
        return sendError(res, 400, 'expected a BatchHabits object', 'invalid_request_error', null);
      double.setBatchHabits(body);
      return sendJson(res, 200, { batchHabits: body });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}flex-unavailable`) {
      if (!Number.isInteger(body?.n))
        return sendError(res, 400, 'expected {"n": <integer>}', 'invalid_request_error', null);
      double.flexUnavailable(body.n);
      return sendJson(res, 200, { flexUnavailable: flexUnavailableLeft });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}latency`) {
      double.setLatency(Number(body?.ms) || 0);
      return sendJson(res, 200, { latencyMs });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}keys`) {
      if (
        body?.keys !== null &&
        !(Array.isArray(body?.keys) && body.keys.every((k: unknown) => typeof k === 'string'))
      ) {
        return sendError(res, 400, 'expected {"keys": [<string>, ...] | null}', 'invalid_request_error', null);
      }
      double.acceptKeys(body.keys);
      return sendJson(res, 200, { keys: body.keys === null ? null : body.keys.length });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}habits`) {
      if (typeof body !== 'object' || body === null)
        return sendError(res, 400, 'expected a ServerHabits object', 'invalid_request_error', null);
      double.setHabits(body);
      return sendJson(res, 200, { habits: body });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}engine`) {
      if (body !== null && (typeof body !== 'object' || (body.kind !== 'llama-server' && body.kind !== 'vllm')))
        return sendError(res, 400, 'expected an EngineHabits object or null', 'invalid_request_error', null);
      double.setEngine(body);
      return sendJson(res, 200, { engine: body });
    }
    if (method === 'POST' && path === `${CONTROL_PREFIX}reset`) {
      double.reset();
      return sendJson(res, 200, { reset: true });
    }
    return sendError(res, 404, `Unknown control URL: ${method} ${path}.`, 'invalid_request_error', 'unknown_url');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'double failed', 'server_error', null);
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  double.url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/v1`;
  return double;
}

/** The `file` part of a multipart/form-data body (what files.create sends), with its name and the purpose field. */
function multipartFile(
  contentType: string,
  raw: string,
): { filename: string; purpose: string; content: string } | null {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return null;
  let file: { filename: string; content: string } | null = null;
  let purpose = '';
  for (const part of raw.split(`--${boundary[1] ?? boundary[2]}`)) {
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const headers = part.slice(0, split);
    const value = part.slice(split + 4).replace(/\r\n$/, '');
    const name = /name="([^"]+)"/.exec(headers)?.[1];
    if (name === 'file') file = { filename: /filename="([^"]*)"/.exec(headers)?.[1] ?? 'upload', content: value };
    if (name === 'purpose') purpose = value;
  }
  return file && { ...file, purpose };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string): any {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** Message contents concatenated; content-part arrays contribute their text parts. */
function promptText(messages: any[]): string {
  return messages
    .map((m) => {
      if (typeof m?.content === 'string') return m.content;
      if (Array.isArray(m?.content))
        return m.content.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('');
      return '';
    })
    .join('');
}

/** An instance of `schema` as JSON text with every number written `9e879` (one item per array, first enum value). */
export function overflowingAnswer(schema: any): string {
  const OVERFLOW = '\u0000overflow\u0000';
  const instance = (node: any): unknown => {
    if (node?.const !== undefined) return node.const;
    if (Array.isArray(node?.enum)) return node.enum[0];
    const type = Array.isArray(node?.type) ? node.type[0] : (node?.type ?? (node?.properties ? 'object' : undefined));
    switch (type) {
      case 'number':
      case 'integer':
        return OVERFLOW;
      case 'string':
        return 'x';
      case 'boolean':
        return true;
      case 'array':
        return [instance(node.items)];
      case 'object':
        return Object.fromEntries(Object.entries(node.properties ?? {}).map(([key, value]) => [key, instance(value)]));
      default:
        return null;
    }
  };
  return JSON.stringify(instance(schema)).replaceAll(JSON.stringify(OVERFLOW), '9e879');
}

function firstNumber(...values: unknown[]): number | undefined {
  return values.find((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function sse(event: object): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

function sendRaw(res: ServerResponse, status: number, payload: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendRaw(res, status, JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null): void {
  sendJson(res, status, { error: { message, type, param: null, code } });
}

/** Prometheus text exposition, as an engine's /metrics answers. */
function sendText(res: ServerResponse, lines: string[]): void {
  const payload = `${lines.join('\n')}\n`;
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
