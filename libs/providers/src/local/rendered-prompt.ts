import type { ChatHistoryItem, ChatWrapper, Tokenizer } from 'node-llama-cpp';

/**
 * Tokens of a prompt as the model's chat template renders it after `history`, up to where the answer
 * starts: what a sequence holds before generating. One definition for the provider that runs the prompt
 * and for intake's count of it (VocabTokenizers), so the two agree.
 */
export function renderedPromptTokens(
  chatWrapper: ChatWrapper,
  tokenizer: Tokenizer,
  history: readonly ChatHistoryItem[],
  prompt: string,
): number {
  const { contextText } = chatWrapper.generateContextState({
    chatHistory: [...history, { type: 'user', text: prompt }, { type: 'model', response: [] }],
  });
  return contextText.tokenize(tokenizer).length;
}

/** The history a completion starts from: its system message, if it has one. */
export function systemHistory(system: string): ChatHistoryItem[] {
  return system ? [{ type: 'system', text: system }] : [];
}
