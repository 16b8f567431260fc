import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { inputTokensBound } from '#libs/routing';
import { APIError } from 'openai';
import { ProviderError, type CompletionResult, type TokenUsage } from '../completion.js';
import { toProviderError } from './error-mapping.js';

/**
 * The request as it went on the wire (a chat-completions body: a synchronous call's params, a provider batch line's
 * body), as far as an answer is read against it: what it sent, what it capped the answer at.
 */
export interface SentRequest {
  messages?: unknown;
  response_format?: unknown;
  stop?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
}

/** What an answer is read against: the request it answers, the model asked for, and where (for errors). */
export interface AnswerContext {
  sent: SentRequest;
  /** Reported when the API names no model. */
  model: string;
  /** Names provider and item in errors (failurePrefix). */
  at: string;
  /**
   * A model that declines (`refusal` instead of content, as OpenAI's models do under structured outputs) gives no
   * answer: true for a task's prompt, whose checks would ask it again and again, paying each time. A chat item's
   * request is left its answer as the model gave it.
   */
  refusalFails?: boolean;
}

/** A non-streamed answer as a result; refuses a body that is not a chat completion or not whole. */
export function wholeAnswer(completion: ChatCompletion | undefined, ctx: AnswerContext): CompletionResult {
  // OpenRouter (and proxies like it) answer an upstream's failure with HTTP 200 and an error object: what it
  // stands for decides as an HTTP error would (a 429 waits, a 5xx counts against the circuit, a 400 is a refusal).
  const failed = (completion as { error?: unknown } | undefined)?.error;
  if (failed) throw errorInBody(failed, ctx.at);
  // A proxy or misrouted baseURL can answer 200 with something that is not a completion.
  if (!Array.isArray(completion?.choices)) {
    throw new ProviderError(`${ctx.at}: the answer is not a chat completion`, true, 'bad_response');
  }
  const choice = completion.choices[0];
  // No choice is no answer, whatever else the body says (its missing finish_reason is not a stop).
  if (!choice) throw new ProviderError(`${ctx.at}: the answer has no choices`, true, 'bad_response');
  // OpenRouter: an upstream that failed mid-answer leaves its error on the choice (finish_reason "error").
  const choiceFailed = (choice as { error?: unknown }).error;
  if (choiceFailed) throw errorInBody(choiceFailed, ctx.at);
  const { answer: text, reasoning } = apartFromReasoning(answerText(choice.message?.content));
  const refusal = (choice.message as { refusal?: unknown } | undefined)?.refusal;
  if (ctx.refusalFails && text === '' && typeof refusal === 'string' && refusal !== '') {
    // Its words are the model's about the item: never quoted.
    throw new ProviderError(`${ctx.at}: the model declined to answer (refusal)`, false, 'model_refused');
  }
  return {
    text,
    ...usageOf(completion.usage, ctx.sent, text, reasoning + reasoningOf(choice.message)),
    model: completion.model || ctx.model,
    finishReason: finishReasonOf(choice?.finish_reason, ctx.at, {
      completionTokens: reportedCount((completion.usage as { completion_tokens?: unknown } | null)?.completion_tokens),
      cap: capOf(ctx.sent),
    }),
  };
}

export interface StreamReading extends AnswerContext {
  /** The signal the stream was opened with: the SDK ends a stream quietly when it aborts. */
  signal: AbortSignal;
  /** Told of every chunk (re-arms the attempt's silence timer). */
  onChunk: () => void;
}

/** A streamed answer, assembled chunk by chunk; a stream that was aborted or cut off is no result. */
export async function streamedAnswer(
  stream: AsyncIterable<ChatCompletionChunk>,
  reading: StreamReading,
): Promise<CompletionResult> {
  let text = '';
  let reasoning = '';
  let model = '';
  let finish: string | null | undefined;
  let usage: unknown;
  for await (const chunk of stream) {
    reading.onChunk();
    model ||= chunk.model;
    // A usage-only chunk may come without `choices` at all.
    const choice = (chunk.choices as ChatCompletionChunk['choices'] | undefined)?.[0];
    if (choice?.delta?.content) text += choice.delta.content;
    reasoning += reasoningOf(choice?.delta);
    if (choice?.finish_reason) finish = choice.finish_reason;
    // Groq sends the stream's usage in `x_groq.usage` of its last chunk.
    const groq = (chunk as { x_groq?: { usage?: unknown } }).x_groq?.usage;
    if (chunk.usage || groq) usage = chunk.usage ?? groq;
  }
  // The SDK ends a stream quietly when its signal aborts, so an abort looks like a short stream.
  if (reading.signal.aborted) throw new Error('stream aborted');
  const apart = apartFromReasoning(text);
  return {
    text: apart.answer,
    ...usageOf(usage, reading.sent, apart.answer, reasoning + apart.reasoning),
    model: model || reading.model,
    finishReason: finishReasonOf(finish, reading.at),
  };
}

/**
 * How servers other than OpenAI word an answer the model ended itself: TGI's "eos_token" and "stop_sequence",
 * Together's "eos", Anthropic-style "end_turn"; and one cut at its limit: "max_tokens", Mistral's "model_length"
 * (the context is full). Read as "stop" and "length": taken for anything else, each was failed for good as an
 * unexpected ending, so every answer such a server gave was thrown away and its item sent elsewhere or failed.
 */
const STOPPED: ReadonlySet<string> = new Set(['stop', 'eos', 'eos_token', 'stop_sequence', 'end_turn']);
const CUT_OFF: ReadonlySet<string> = new Set(['length', 'max_tokens', 'model_length']);
/** The server gave up on the answer (OpenRouter's "error" when its upstream failed mid-answer, vLLM's "abort"). */
const SERVER_ENDED: ReadonlySet<string> = new Set(['error', 'abort']);

/**
 * A whole (not streamed) answer's body arrived complete, so one without a finish_reason was not cut off in
 * transit, as a stream that ends without one is: it stopped, or reached its limit where the output tokens the server
 * reported reach the cap it was asked with.
 */
export interface WholeEnding {
  completionTokens: number | null;
  cap: number | undefined;
}

/** Only a stopped or cut-off answer is a result; anything else would pass off a partial answer as whole. */
export function finishReasonOf(reason: string | null | undefined, at: string, whole?: WholeEnding): 'stop' | 'length' {
  const said = typeof reason === 'string' && reason !== '' ? reason.toLowerCase() : null;
  if (said !== null && STOPPED.has(said)) return 'stop';
  if (said !== null && CUT_OFF.has(said)) return 'length';
  if (said === 'content_filter') {
    throw new ProviderError(`${at}: the answer was withheld by a content filter`, false, 'content_filter');
  }
  if (said !== null && SERVER_ENDED.has(said)) {
    throw new ProviderError(`${at}: the server ended the answer with finish_reason "${said}"`, true, 'server_error');
  }
  if (said === null && whole) {
    const { completionTokens, cap } = whole;
    return completionTokens !== null && cap !== undefined && completionTokens >= cap ? 'length' : 'stop';
  }
  if (said === null) {
    throw new ProviderError(`${at}: the answer ended without a finish_reason (cut off)`, true, 'connection');
  }
  throw new ProviderError(`${at}: unexpected finish_reason "${reason}"`, false, 'unexpected_finish');
}

/**
 * Usage as the API reported it, each count checked. A count the server did not give is estimated: some
 * OpenAI-compatible servers and proxies omit `usage` or send it null, send a count as null (what their backend did
 * not say), or 0 for a prompt or an answer that had text; a stream's usage chunk is optional. Such a count is taken
 * at its bound, what the provider could have billed at most (the bound a batch budget reserved for the call): the
 * input at a token per UTF-8 byte of what was sent plus framing (inputTokensBound), the answer at a token per byte
 * of its text, reasoning included, within its max_tokens. At four characters a token, as before, text a tokenizer
 * reads densely (Chinese, digits) was charged a quarter of its price, and a null count made the cost NaN, which
 * the item's record could not add. `usageEstimated` says the counts are not the provider's.
 */
export function usageOf(
  usage: unknown,
  sent: SentRequest,
  text: string,
  reasoning = '',
): { usage: TokenUsage; usageEstimated?: true } {
  const reported = (typeof usage === 'object' && usage !== null ? usage : {}) as Record<string, unknown>;
  const input = countOf(reported.prompt_tokens, messagesOf(sent).length > 0);
  const output = countOf(reported.completion_tokens, text !== '' || reasoning !== '');
  const counted = {
    inputTokens: input ?? requestInputBound(sent),
    outputTokens: output ?? answerTokensBound(sent, text + reasoning),
  };
  return input === null || output === null ? { usage: counted, usageEstimated: true } : { usage: counted };
}

/**
 * The answer a message's content holds: a string; or an array of parts, whose text parts are the answer and whose
 * thinking parts are not (Mistral's reasoning models); null (a model that wrote only reasoning) is an empty answer.
 * An array was taken for the text as it was, so a document's check crashed on it (text.trim is not a function) and
 * the job ran, and paid, again until BullMQ gave up; a chat item stored the parts as its content.
 */
export function answerText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => {
      if (typeof part === 'string') return part;
      const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
      return typeof text === 'string' && (type === undefined || type === 'text' || type === 'output_text') ? text : '';
    })
    .join('');
}

/**
 * An answer apart from the reasoning a model wrote before it in `<think>…</think>`: DeepSeek-R1, Qwen3 and their
 * distills served without a reasoning parser (vLLM without --reasoning-parser, llama-server with
 * --reasoning-format none, Together, Groq's raw format) put it in the content, and R1's template opens the tag in
 * the prompt, so the content starts inside it and only closes it. Taken as the answer, every structured answer
 * failed as not JSON (asked again, thinking again, until it was rejected) and a summary was stored with the model's
 * musings. An answer that opened its reasoning and never closed it holds none.
 */
export function apartFromReasoning(text: string): { answer: string; reasoning: string } {
  const opened = /^\s*<think>/.exec(text);
  const from = opened ? opened[0].length : 0;
  const closing = text.indexOf('</think>', from);
  if (closing >= 0 && (opened || !text.slice(0, closing).includes('<think>'))) {
    return { answer: text.slice(closing + '</think>'.length).trimStart(), reasoning: text.slice(from, closing) };
  }
  return opened ? { answer: '', reasoning: text.slice(from) } : { answer: text, reasoning: '' };
}

/**
 * An error object a server put in an HTTP 200 body, as the HTTP error its `code` (or `status`) stands for would
 * be read (toProviderError): its type and code only, never its message, which may echo the request. One that names
 * no HTTP status is a bad answer, tried again.
 */
function errorInBody(error: unknown, at: string): ProviderError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; status?: unknown };
  const status = [e.code, e.status]
    .map((v) => (typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : v))
    .find((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 400 && v <= 599);
  if (status === undefined) return new ProviderError(`${at}: HTTP 200 with an error in its body`, true, 'bad_response');
  const as = toProviderError(APIError.generate(status, { error }, undefined, new Headers()), { at, timeoutMs: 0 });
  return new ProviderError(`${at}: HTTP 200 with error ${status} in its body`, as.retryable, as.code);
}

/**
 * The reasoning a message (or a stream's delta) carries beside its content: `reasoning_content` (vLLM's and
 * llama-server's reasoning parsers, DeepSeek) or `reasoning` (Ollama, OpenRouter, Groq). Billed as output; never
 * part of the answer.
 */
function reasoningOf(message: unknown): string {
  const m = (message ?? {}) as { reasoning_content?: unknown; reasoning?: unknown };
  if (typeof m.reasoning_content === 'string') return m.reasoning_content;
  return typeof m.reasoning === 'string' ? m.reasoning : '';
}

/** A token count as reported: a whole number, and more than 0 where there was text to count; null otherwise. */
function countOf(value: unknown, hadText: boolean): number | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return null;
  return value === 0 && hadText ? null : value;
}

/** The most input tokens `sent` can be billed: its messages' texts, response_format and stop sequences. */
export function requestInputBound(sent: SentRequest): number {
  const messages = messagesOf(sent);
  const texts = messages.map((m) => contentText((m as { content?: unknown } | null)?.content));
  if (sent.response_format !== undefined) texts.push(JSON.stringify(sent.response_format));
  const stops = typeof sent.stop === 'string' ? [sent.stop] : Array.isArray(sent.stop) ? sent.stop : [];
  texts.push(...stops.filter((stop): stop is string => typeof stop === 'string'));
  return inputTokensBound(texts, messages.length);
}

/** The most tokens an answer of `text` can be billed: a token per UTF-8 byte, within the cap it was asked with. */
function answerTokensBound(sent: SentRequest, text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  const cap = capOf(sent);
  return cap === undefined ? bytes : Math.min(bytes, cap);
}

/** The answer's cap the request was sent with. */
function capOf(sent: SentRequest): number | undefined {
  return [sent.max_completion_tokens, sent.max_tokens].find(
    (v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0,
  );
}

/** A count as the server reported it, whatever it counted; null where it gave none. */
function reportedCount(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

function messagesOf(sent: SentRequest): unknown[] {
  return Array.isArray(sent.messages) ? sent.messages : [];
}

/** A message's content as text: a string, or the text of its parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (typeof (part as { text?: unknown })?.text === 'string' ? (part as { text: string }).text : ''))
    .join('');
}
