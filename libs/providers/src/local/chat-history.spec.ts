import { describe, expect, it } from '@jest/globals';
import { chatHistory } from './rendered-prompt.js';

describe("a chat item's messages for a local model", () => {
  it('become the history before the last user message, which is the prompt; developer counts as system', () => {
    expect(
      chatHistory([
        { role: 'developer', content: 'Be terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'Why?' },
      ]),
    ).toEqual({
      history: [
        { type: 'system', text: 'Be terse.' },
        { type: 'user', text: 'Hi' },
        { type: 'model', response: ['Hello'] },
      ],
      prompt: 'Why?',
    });
  });
});
