import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { ApiKeyStore } from './api-key-store.js';
import { KeyRateLimiter } from './key-rate-limiter.js';

/** API keys, the authenticator over them and per-key rate limits, for the API. */
@Module({
  providers: [
    {
      provide: ApiKeyStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new ApiKeyStore(redis, c.prefix),
    },
    {
      provide: ApiKeyAuthenticator,
      inject: [ApiKeyStore, APP_CONFIG],
      useFactory: (store: ApiKeyStore, c: AppConfig) => new ApiKeyAuthenticator(store, c.access.adminApiKey),
    },
    {
      provide: KeyRateLimiter,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new KeyRateLimiter(redis, c.prefix),
    },
  ],
  exports: [ApiKeyStore, ApiKeyAuthenticator, KeyRateLimiter],
})
export class AccessModule {}
