import type { ChatCall } from '#libs/providers';

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
