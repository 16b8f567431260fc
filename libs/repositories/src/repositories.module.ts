import { Module } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { REDIS, type RedisClient } from '#libs/redis';
import { RepositoryRegistry } from './repository-registry.js';

/** The registered repositories: the API manages them, the intake and the worker check against them. */
@Module({
  providers: [
    {
      provide: RepositoryRegistry,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: RedisClient, c: AppConfig) => new RepositoryRegistry(redis, c.prefix),
    },
  ],
  exports: [RepositoryRegistry],
})
export class RepositoriesModule {}
