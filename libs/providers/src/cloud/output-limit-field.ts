import { APIError } from 'openai';

/** The request field that caps a completion's answer. */
export type OutputLimitFieldName = 'max_tokens' | 'max_completion_tokens';

/**
 * Which field one provider's model takes for the answer's cap, learned from the model itself.
 *
 * `max_tokens` first: Ollama and LM Studio accept only it, and llama.cpp's server silently ignored
 * `max_completion_tokens` (no cap at all) until early 2026. OpenAI's reasoning models (o1, o3, o4-mini, gpt-5)
 * refuse it instead, with a 400 `unsupported_parameter` naming `max_tokens` and telling to use
 * `max_completion_tokens`: every item sent to such a model failed. Such a refusal switches the provider to
 * `max_completion_tokens` for good (this process), and the refused request is sent again at once: the model
 * took nothing, charged nothing. One instance is shared by a provider's tiers (standard, flex, its Batch API),
 * which serve the same model.
 */
export class OutputLimitField {
  private field: OutputLimitFieldName = 'max_tokens';

  get name(): OutputLimitFieldName {
    return this.field;
  }

  /**
   * Whether `err`, the answer to a request sent with `sent`, is the model refusing that field for the other
   * one; then (or where another request learned it meanwhile) the field to send is now the other one.
   */
  refused(sent: OutputLimitFieldName, err: unknown): boolean {
    if (sent !== 'max_tokens' || !(err instanceof APIError) || err.status !== 400) return false;
    if (!refusesMaxTokens(err)) return false;
    this.field = 'max_completion_tokens';
    return true;
  }
}

/**
 * OpenAI's words: `{"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use
 * 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens", "code":
 * "unsupported_parameter"}`. Either the param with an unsupported code, or a message naming both fields (Azure
 * OpenAI and proxies in front of these models reword the rest).
 */
function refusesMaxTokens(err: APIError): boolean {
  if (err.param === 'max_tokens' && /unsupported/i.test(String(err.code ?? err.type ?? ''))) return true;
  return /\bmax_tokens\b/.test(err.message) && /\bmax_completion_tokens\b/.test(err.message);
}
