import { startTestRedis } from './redis-server-process.js';

/** Starts the private Redis every test shares (each test uses its own key prefix). */
export default async function globalSetup(): Promise<void> {
  const redis = await startTestRedis();
  process.env.REDIS_URL = redis.url;
  (globalThis as any).__SWITCHYARD_REDIS__ = redis;
}
