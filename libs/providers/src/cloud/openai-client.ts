import OpenAI from 'openai';
import type { ApiKeySource } from './api-key-source.js';

export interface OpenAIClientOptions {
  baseURL: string;
  apiKey: string | ApiKeySource;
  timeoutMs: number;
}

/**
 * The SDK client a CloudProvider sends through, doing nothing on its own: no retries (the provider's
 * retry loop does them, see CloudProvider), nothing picked up from the environment, no logging.
 */
export function openAIClient({ baseURL, apiKey, timeoutMs }: OpenAIClientOptions): OpenAI {
  return new OpenAI({
    baseURL,
    // A function is called by the SDK before every request, so a rotated key is used from the next one on.
    apiKey: typeof apiKey === 'string' ? apiKey : () => apiKey.current(),
    // The SDK would otherwise pick these up from OPENAI_ORG_ID / OPENAI_PROJECT_ID and send them
    // to whatever endpoint baseURL names.
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: timeoutMs,
    // 'off' also overrides OPENAI_LOG: at debug level the SDK logs request options, prompts included.
    logLevel: 'off',
  });
}
