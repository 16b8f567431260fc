/**
 * Token estimates used before a model has seen the text. ~4 characters per token holds for English
 * prose and code with llama/GPT tokenizers within ±30%; the routing policy only needs the magnitude.
 */
export const CHARS_PER_TOKEN = 4;

export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / CHARS_PER_TOKEN));
}
