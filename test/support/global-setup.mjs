// Jest loads global setup outside its module mapper, so this runs the built helper from dist/
// (`npm test` builds first). It starts the private Redis every test shares; each test uses its own prefix.
import { startTestRedis } from '../../dist/test/support/redis-server-process.js';

export default async function globalSetup() {
  const redis = await startTestRedis();
  process.env.REDIS_URL = redis.url;
  globalThis.__SWITCHYARD_REDIS__ = redis;
}
