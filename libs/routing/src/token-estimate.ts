/**
 * Token estimates used before a model has seen the text. ~4 characters per token holds for English
 * prose and code with llama/GPT tokenizers within ±30%; the routing policy only needs the magnitude.
 */
export const CHARS_PER_TOKEN = 4;

export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / CHARS_PER_TOKEN));
}

/** Tokens a chat template adds around each message (role, separators), at most; OpenAI's add 3 or 4. */
export const MESSAGE_FRAME_TOKENS_MAX = 8;
/** Tokens a request adds besides its messages (the reply's priming, a structured-output preamble), at most. */
export const REQUEST_FRAME_TOKENS_MAX = 64;

/**
 * The most input tokens a provider can bill for a request made of these texts in `messages` messages: each text
 * is at most its UTF-8 bytes (byte-level BPE and SentencePiece's byte fallback give every token at least one
 * byte), plus framing. What a budget reserves before a call, where estimateTokens would undercount text that
 * tokenizes densely (CJK, digits, identifiers) by up to four times, and the call would cost more than was held.
 */
export function inputTokensBound(texts: readonly string[], messages: number): number {
  const bytes = texts.reduce((sum, t) => sum + Buffer.byteLength(t, 'utf8'), 0);
  return bytes + messages * MESSAGE_FRAME_TOKENS_MAX + REQUEST_FRAME_TOKENS_MAX;
}
