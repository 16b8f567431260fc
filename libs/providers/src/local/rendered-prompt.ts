import type { ChatHistoryItem, ChatWrapper, Tokenizer } from 'node-llama-cpp';
import type { ChatMessage } from '#libs/domain';

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

/**
 * A chat item's messages as the history before its last user message, and that message as the prompt
 * (intake makes sure the last message is the user's): the model's chat template renders them as it was
 * trained to. A developer message is a system message to a local model.
 */
export function chatHistory(messages: readonly ChatMessage[]): { history: ChatHistoryItem[]; prompt: string } {
  const last = messages.at(-1);
  const before = last?.role === 'user' ? messages.slice(0, -1) : messages;
  const history = before.map((m): ChatHistoryItem => {
    switch (m.role) {
      case 'system':
      case 'developer':
        return { type: 'system', text: m.content };
      case 'user':
        return { type: 'user', text: m.content };
      case 'assistant':
        return { type: 'model', response: [m.content] };
    }
  });
  return { history, prompt: last?.role === 'user' ? last.content : '' };
}
