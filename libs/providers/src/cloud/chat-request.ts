import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions';
import type { ChatCall, CompletionRequest } from '../completion.js';
import type { OutputLimitFieldName } from './output-limit-field.js';
import { fitsStrictMode } from './strict-schema.js';

/** The name a structured answer's schema goes by in response_format; the API requires one. */
export const ANSWER_SCHEMA_NAME = 'answer';

type ResponseFormat = NonNullable<ChatCompletionCreateParamsBase['response_format']>;

/**
 * The chat completion one item asks for: its system and user messages, its output limit and, for a
 * structured answer, its schema. The same for a whole or a streamed answer; the caller adds `stream`.
 */
export function chatCompletionParams(
  model: string,
  req: CompletionRequest,
  limitField: OutputLimitFieldName = 'max_tokens',
): ChatCompletionCreateParamsBase {
  if (req.chat) return chatItemParams(model, outputLimit(limitField, req.maxTokens), req.chat);
  return {
    model,
    messages: [
      { role: 'system', content: req.system },
      { role: 'user', content: req.prompt },
    ],
    // max_tokens unless the model refused it (OutputLimitField says why).
    ...outputLimit(limitField, req.maxTokens),
    ...(req.jsonSchema ? { response_format: responseFormatFor(req.jsonSchema) } : {}),
  };
}

/**
 * Structured answers: the API constrains decoding to the schema where strict mode accepts it, and is
 * guided by it otherwise (fitsStrictMode); we validate the answer either way.
 */
export function responseFormatFor(schema: Record<string, unknown>): ResponseFormat {
  return {
    type: 'json_schema',
    json_schema: { name: ANSWER_SCHEMA_NAME, schema, strict: fitsStrictMode(schema) },
  };
}

/**
 * A chat item's request as its client wrote it (issue 16 §2): the messages and sampling parameters passed
 * through, response_format as given; only the model is the provider's and the limit the one routing chose.
 */
function chatItemParams(
  model: string,
  limit: ReturnType<typeof outputLimit>,
  chat: ChatCall,
): ChatCompletionCreateParamsBase {
  return {
    model,
    messages: chat.messages.map((m) => ({ role: m.role, content: m.content })),
    ...limit,
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
    ...(chat.topP === undefined ? {} : { top_p: chat.topP }),
    ...(chat.seed === undefined ? {} : { seed: chat.seed }),
    ...(chat.stop === undefined ? {} : { stop: chat.stop }),
    ...(chat.responseFormat === undefined ? {} : { response_format: chat.responseFormat as ResponseFormat }),
  };
}

/** The answer's cap under the field the provider's model takes. */
function outputLimit(
  field: OutputLimitFieldName,
  tokens: number,
): { max_tokens: number } | { max_completion_tokens: number } {
  return field === 'max_tokens' ? { max_tokens: tokens } : { max_completion_tokens: tokens };
}
