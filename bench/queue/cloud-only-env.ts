import { randomUUID } from 'node:crypto';
import { ensureGeneratedModel } from '#libs/gguf';
import type { OpenAIDouble } from '../../test/support/openai-double.js';
import type { TestRedis } from '../../test/support/redis-server-process.js';
import { systemEnv } from '../../test/support/system-under-test.js';

/**
 * The environment bench:queue runs Switchyard in (both modes): its own prefix on the bench's Redis, the tiny
 * model, and the double as a zero-priced cloud provider with local dearer, so every public item goes to the
 * cloud; no rate limits. `overrides` set the rest (concurrency, batch and body limits).
 */
export async function cloudOnlyEnv(
  redis: TestRedis,
  double: OpenAIDouble,
  overrides: NodeJS.ProcessEnv,
): Promise<NodeJS.ProcessEnv> {
  return systemEnv({
    REDIS_URL: redis.url,
    SWITCHYARD_PREFIX: `sy-${randomUUID().slice(0, 8)}`,
    LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    LOCAL_PRICE_INPUT_PER_M: '20',
    LOCAL_PRICE_OUTPUT_PER_M: '60',
    OPENAI_BASE_URL: double.url,
    OPENAI_API_KEY: 'bench-key',
    CLOUD_PRICE_INPUT_PER_M: '0',
    CLOUD_PRICE_OUTPUT_PER_M: '0',
    MAX_OUTPUT_TOKENS: '64',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '0',
    RATE_LIMIT_TOKENS_PER_MINUTE: '0',
    ...overrides,
  });
}
