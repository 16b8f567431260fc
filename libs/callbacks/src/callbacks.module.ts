import { Module } from '@nestjs/common';
import type { RedisClient } from '#libs/redis';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS } from '#libs/redis';
import { CallbackAddressGuard } from './callback-address.js';
import { CallbackSecrets } from './callback-secrets.js';
import { CallbackSender } from './callback-sender.js';

/** The tenants' signing secrets (the API shows them, the worker signs with them) and the sender the worker posts with. */
@Module({
  providers: [
    {
      provide: CallbackSecrets,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new CallbackSecrets(redis, c.prefix),
    },
    {
      provide: CallbackSender,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) =>
        new CallbackSender(new CallbackAddressGuard(c.callbacks.allowedNetworks), c.callbacks.timeoutMs),
    },
  ],
  exports: [CallbackSecrets, CallbackSender],
})
export class CallbacksModule {}
