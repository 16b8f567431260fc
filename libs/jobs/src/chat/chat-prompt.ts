import type { ChatBody, ChatMessage } from '#libs/domain';
import { estimateTokens } from '#libs/routing';
import type { Prompt } from '../prompt.js';

/**
 * A chat item's expected answer before any has been seen: a quarter of its limit, within [32, 256] tokens.
 * TokenCalibration corrects it (kind "chat") from what models really wrote.
 */
const EXPECTED_SHARE = 0.25;
const EXPECTED_MIN = 32;
const EXPECTED_MAX = 256;

/** A chat item's request, as intake stored it in WorkItem.input (JSON of the validated body). */
export function chatBodyOf(input: string): ChatBody {
  return JSON.parse(input) as ChatBody;
}

/**
 * The prompt of a chat item: its own messages and sampling (`chat`), sent as they are; `system` and
 * `prompt` hold the same text flattened, for token counts and the estimate routing makes. Its limit is
 * the body's max_completion_tokens (or max_tokens), within MAX_OUTPUT_TOKENS.
 */
export function chatPrompt(body: ChatBody, maxOutputTokens: number): Prompt {
  const asked = body.max_completion_tokens ?? body.max_tokens ?? maxOutputTokens;
  const maxTokens = Math.min(asked, maxOutputTokens);
  const isSystem = (m: ChatMessage) => m.role === 'system' || m.role === 'developer';
  const system = body.messages
    .filter(isSystem)
    .map((m) => m.content)
    .join('\n\n');
  const prompt = body.messages
    .filter((m) => !isSystem(m))
    .map((m) => `${m.role}: ${m.content}`)
    .join('\n\n');
  const expected = Math.ceil(maxTokens * EXPECTED_SHARE);
  return {
    system,
    prompt,
    maxTokens,
    expectedOutputTokens: Math.min(maxTokens, Math.max(EXPECTED_MIN, Math.min(expected, EXPECTED_MAX))),
    chat: {
      messages: body.messages,
      temperature: body.temperature,
      topP: body.top_p,
      seed: body.seed,
      stop: body.stop === undefined ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop,
      responseFormat: body.response_format,
    },
  };
}

/** The schema a chat item's answer must match, where its response_format gives one (json_schema). */
export function chatAnswerSchema(body: ChatBody): Record<string, unknown> | undefined {
  const format = body.response_format;
  return format?.type === 'json_schema' ? format.json_schema.schema : undefined;
}

/**
 * Tokens a chat body sends, estimated (~4 characters a token): what a rate limit counts. The messages, and what the
 * provider reads besides them: a response_format's schema (its names and descriptions may be long) and the stop
 * sequences. Unvalidated bodies count what can be read of them.
 */
export function chatBodyTokens(body: unknown): number {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const messages = Array.isArray(b.messages) ? (b.messages as unknown[]) : [];
  const inMessages = messages.reduce<number>((sum, m) => {
    const content = (m as { content?: unknown } | null)?.content;
    return sum + estimateTokens(typeof content === 'string' ? content : jsonOf(content ?? ''));
  }, 0);
  const besides = [b.response_format, b.stop].filter((v) => v !== undefined && v !== null);
  return inMessages + besides.reduce<number>((sum, v) => sum + estimateTokens(jsonOf(v)), 0);
}

function jsonOf(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
