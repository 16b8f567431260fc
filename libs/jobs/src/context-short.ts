/**
 * A run that cannot fit the model's context: its smallest part, or the prompt combining the parts' answers,
 * does not fit one call there. Nothing about the item is wrong: a provider with a larger context can run it
 * (issue 12 §4), so the worker moves it rather than failing it.
 */
export interface ContextShort {
  ok: false;
  message: string;
  cause: 'context';
}

export function contextShort(message: string): ContextShort {
  return { ok: false, message, cause: 'context' };
}
