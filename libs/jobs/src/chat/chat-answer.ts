import type { ChatBody } from '#libs/domain';

/** How a chat item's answer is stored as its result: the assistant's text and why it ended, as OpenAI reports them. */
export interface ChatAnswer {
  content: string;
  finish_reason: 'stop' | 'length';
}

export type ChatAnswerCheck = { ok: true; result: string } | { ok: false; message: string };

/**
 * A chat answer counts as the model gave it, cut off or not (finish_reason "length", as OpenAI answers),
 * except that a JSON response_format must have produced JSON: a local grammar or a cloud's strict mode makes
 * it so, and an answer that is not (a model ignoring json_object) is asked again rather than passed off.
 */
export function checkChatAnswer(body: ChatBody, text: string, finishReason: 'stop' | 'length'): ChatAnswerCheck {
  const format = body.response_format?.type;
  if ((format === 'json_object' || format === 'json_schema') && finishReason === 'stop') {
    try {
      JSON.parse(text);
    } catch {
      return { ok: false, message: `the answer is not JSON, as response_format ${format} asks` };
    }
  }
  const answer: ChatAnswer = { content: text, finish_reason: finishReason };
  return { ok: true, result: JSON.stringify(answer) };
}

/** A stored chat result read back; a result stored otherwise reads as its whole text. */
export function chatAnswerOf(result: string): ChatAnswer {
  try {
    const parsed = JSON.parse(result) as Partial<ChatAnswer>;
    if (typeof parsed.content === 'string')
      return { content: parsed.content, finish_reason: parsed.finish_reason === 'length' ? 'length' : 'stop' };
  } catch {
    // not a stored chat answer
  }
  return { content: result, finish_reason: 'stop' };
}
