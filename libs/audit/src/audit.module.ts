import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { AuditTrail } from './audit-trail.js';

/** The audit trail on the app's Redis: the API records routes at intake and reads it; the worker records the rest. */
@Module({
  providers: [
    {
      provide: AuditTrail,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) =>
        new AuditTrail(redis, c.prefix, {
          maxEntries: c.audit.maxEntries,
          onPremisesProviders: c.cloudProviders.filter((p) => p.onPremises).map((p) => p.name),
        }),
    },
  ],
  exports: [AuditTrail],
})
export class AuditModule {}
