import type OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { ProviderError, type CompletionRequest, type CompletionResult, type TokenUsage } from '../completion.js';

/** What an answer is read against: the request it answers, the model asked for, and where (for errors). */
export interface AnswerContext {
  req: CompletionRequest;
  /** Reported when the API names no model. */
  model: string;
  /** Names provider and item in errors (failurePrefix). */
  at: string;
}

/** A non-streamed answer as a result; refuses a body that is not a chat completion or not whole. */
export function wholeAnswer(completion: ChatCompletion | undefined, ctx: AnswerContext): CompletionResult {
  // A proxy or misrouted baseURL can answer 200 with something that is not a completion.
  if (!Array.isArray(completion?.choices)) {
    throw new ProviderError(`${ctx.at}: the answer is not a chat completion`, true, 'bad_response');
  }
  const choice = completion.choices[0];
  const text = choice?.message?.content ?? '';
  return {
    text,
    usage: usageOf(completion.usage, ctx.req, text),
    model: completion.model || ctx.model,
    finishReason: finishReasonOf(choice?.finish_reason, ctx.at),
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
  let model = '';
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    reading.onChunk();
    model ||= chunk.model;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) text += choice.delta.content;
    if (choice?.finish_reason) finish = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  // The SDK ends a stream quietly when its signal aborts, so an abort looks like a short stream.
  if (reading.signal.aborted) throw new Error('stream aborted');
  return {
    text,
    usage: usageOf(usage, reading.req, text),
    model: model || reading.model,
    finishReason: finishReasonOf(finish, reading.at),
  };
}

/** Only a 'stop' or 'length' answer is a result; anything else would pass off a partial answer as whole. */
export function finishReasonOf(reason: string | null | undefined, at: string): 'stop' | 'length' {
  if (reason === 'stop' || reason === 'length') return reason;
  if (reason === 'content_filter') {
    throw new ProviderError(`${at}: the answer was withheld by a content filter`, false, 'content_filter');
  }
  if (reason == null) {
    throw new ProviderError(`${at}: the answer ended without a finish_reason (cut off)`, true, 'connection');
  }
  throw new ProviderError(`${at}: unexpected finish_reason "${reason}"`, false, 'unexpected_finish');
}

/**
 * Usage as the API reported it. A server that reports none (some OpenAI-compatible servers omit it,
 * and the stream's usage chunk is optional) gets the usual estimate of four characters per token
 * rather than losing an answer that was already paid for.
 */
export function usageOf(
  usage: OpenAI.CompletionUsage | null | undefined,
  req: CompletionRequest,
  text: string,
): TokenUsage {
  if (usage) return { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens };
  return {
    inputTokens: Math.ceil((req.system.length + req.prompt.length) / 4),
    outputTokens: Math.ceil(text.length / 4),
  };
}
