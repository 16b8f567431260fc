import type { ChatCall } from '#libs/providers';
import { inputTokensBound } from '#libs/routing';

/** What a provider is asked for one item. Holds user data: never log it. */
export interface Prompt {
  system: string;
  prompt: string;
  /** Hard bound on generated tokens. */
  maxTokens: number;
  /** Best guess of generated tokens, for routing and quotes. */
  expectedOutputTokens: number;
  /** A chat item: its own messages and sampling, sent instead of system and prompt (issue 16 §2). */
  chat?: ChatCall;
}

/**
 * The most input tokens a provider can bill for this prompt (inputTokensBound): its messages (a chat item's own,
 * or system and prompt), the schema its answer must follow, a chat item's response_format and stop sequences.
 */
export function promptInputBound(prompt: Prompt, jsonSchema?: Record<string, unknown>): number {
  const chat = prompt.chat;
  const texts = chat
    ? [
        ...chat.messages.map((m) => `${m.role}${m.content}`),
        ...(chat.responseFormat ? [JSON.stringify(chat.responseFormat)] : []),
        ...(chat.stop ?? []),
      ]
    : [prompt.system, prompt.prompt];
  if (jsonSchema && !chat?.responseFormat) texts.push(JSON.stringify(jsonSchema));
  return inputTokensBound(texts, chat ? chat.messages.length : 2);
}
