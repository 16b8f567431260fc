import { z } from 'zod';
import type { ChatBody } from '#libs/domain';
import { schemaRefusal } from '#libs/jobs';
import { wrongType } from './type-error.js';

/** The limits a chat body is checked against: those of every submission. */
export interface ChatBodyLimits {
  maxOutputTokens: number;
}

const MAX_STOP_SEQUENCES = 4;

/**
 * A chat-completions request as a chat item's body (issue 16 §2), and an OpenAI batch line's. Strict: a
 * field Switchyard does not honour on every provider (n, logprobs, tools, ...) is refused naming it, never
 * silently dropped. Content given as parts becomes their text (only "text" parts are taken).
 */
export function chatBodySchema(limits: ChatBodyLimits) {
  const text = z.string(wrongType('must be a string'));
  const content = z.union(
    [
      text,
      z
        .array(z.strictObject({ type: z.literal('text', { error: 'only "text" parts are supported' }), text }))
        .min(1, 'needs at least one part')
        .transform((parts) => parts.map((p) => p.text).join('')),
    ],
    { error: 'must be a string or an array of {"type": "text", "text": ...} parts' },
  );
  const tokens = z
    .number(wrongType('must be a number'))
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(limits.maxOutputTokens, `must be at most ${limits.maxOutputTokens} (MAX_OUTPUT_TOKENS)`)
    .optional();
  const responseFormat = z.discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        json_schema: z
          .strictObject({
            name: z
              .string({ error: 'must be a string' })
              .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a-z, A-Z, 0-9, _ or -'),
            description: text.optional(),
            schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' }).optional(),
            strict: z.boolean({ error: 'must be a boolean' }).nullable().optional(),
          })
          .superRefine((format, ctx) => {
            const refusal = format.schema ? schemaRefusal(format.schema) : null;
            if (refusal) ctx.addIssue({ code: 'custom', path: ['schema'], message: `is refused: ${refusal}` });
          }),
      }),
    ],
    { error: 'must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", ...}' },
  );
  const body = z
    .strictObject(
      {
        messages: z
          .array(
            z.strictObject({
              role: z.enum(['system', 'developer', 'user', 'assistant'], {
                error: 'must be one of system, developer, user, assistant',
              }),
              // No `name`: a local chat template has no place for it. Sent to a cloud and dropped on a local model,
              // it would change the answer by where the item ran; refused, it is said.
              content,
            }),
            { error: 'must be an array of messages' },
          )
          .min(1, 'needs at least one message'),
        model: text.max(256).optional(),
        max_tokens: tokens,
        max_completion_tokens: tokens,
        temperature: z
          .number(wrongType('must be a number'))
          .min(0, 'must be between 0 and 2')
          .max(2, 'must be between 0 and 2')
          .optional(),
        top_p: z
          .number(wrongType('must be a number'))
          .min(0, 'must be between 0 and 1')
          .max(1, 'must be between 0 and 1')
          .optional(),
        seed: z.number(wrongType('must be a number')).int('must be an integer').optional(),
        stop: z
          .union([text, z.array(text).max(MAX_STOP_SEQUENCES)], {
            error: `must be a string or at most ${MAX_STOP_SEQUENCES} strings`,
          })
          .optional(),
        response_format: responseFormat.optional(),
      },
      wrongType('must be an object: a chat-completions request such as {"messages": [{"role": "user", ...}]}'),
    )
    .superRefine((body, ctx) => {
      // Every provider answers the last user message: a local chat template has no way to continue an
      // assistant turn the way a cloud API may. No messages at all is said once, by their own check: there is no
      // last message to name.
      if (body.messages.length > 0 && body.messages.at(-1)?.role !== 'user')
        ctx.addIssue({
          code: 'custom',
          path: ['messages', body.messages.length - 1, 'role'],
          message: "the last message must be the user's",
        });
    });
  // A field set to null is a field left out, as OpenAI's API reads a request (the SDKs type the optional fields
  // `T | null`, and Python code writing lines from dicts sends None): dropped before the check, so `"seed": null`
  // passes and `"n": null` is not refused as a field Switchyard does not take. `messages` stays required. So is a
  // field Switchyard does not take set to OpenAI's default (OPENAI_DEFAULTS): it asks for what every item gets.
  return z.preprocess(withoutDefaults, body) satisfies z.ZodType<ChatBody, unknown>;
}

/**
 * Fields Switchyard does not take, at the value OpenAI reads when they are left out: one answer, no log
 * probabilities, no streaming, no penalties, the completion not stored at OpenAI. Sent, they ask for nothing, so they
 * read as left out; any other value is refused naming the field. OpenAI's own playground writes
 * `frequency_penalty: 0, presence_penalty: 0` into every request it exports, and SDK wrappers send `stream: false`,
 * `logprobs: false` and `store: false`: refusing those refused requests that ask for exactly what they get.
 */
const OPENAI_DEFAULTS: Readonly<Record<string, unknown>> = {
  n: 1,
  logprobs: false,
  stream: false,
  store: false,
  frequency_penalty: 0,
  presence_penalty: 0,
};

function withoutDefaults(raw: unknown): unknown {
  if (!isPlainObject(raw)) return raw;
  return Object.fromEntries(
    Object.entries(raw)
      .filter(
        ([key, value]) =>
          key === 'messages' ||
          !(value === null || (Object.hasOwn(OPENAI_DEFAULTS, key) && OPENAI_DEFAULTS[key] === value)),
      )
      .map(([key, value]) => [key, key === 'messages' && Array.isArray(value) ? value.map(withoutNulls) : value]),
  );
}

/**
 * A message's optional fields set to null, read as left out as OpenAI reads them: the SDKs type an assistant
 * message's `refusal`, `audio` and `function_call` `T | null`, and a completion's message sent back as history
 * carries `refusal: null`. `role` and `content` stay, so that a null one is named as wrong, not as missing.
 */
function withoutNulls(message: unknown): unknown {
  if (!isPlainObject(message)) return message;
  return Object.fromEntries(
    Object.entries(message).filter(([key, value]) => value !== null || key === 'role' || key === 'content'),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
