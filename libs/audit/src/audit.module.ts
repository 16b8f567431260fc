import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS } from '#libs/redis';
import { AuditTrail } from './audit-trail.js';

/** The audit trail on the app's Redis: the API records routes at intake and reads it; the worker records the rest. */
@Module({
  providers: [
    {
      provide: AuditTrail,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) =>
        new AuditTrail(redis, c.prefix, {
          maxEntries: c.audit.maxEntries,
          onPremisesProviders: c.cloudProviders.filter((p) => p.onPremises).map((p) => p.name),
        }),
    },
  ],
  exports: [AuditTrail],
})
export class AuditModule {}
