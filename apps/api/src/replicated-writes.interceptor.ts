import {
  Inject,
  Injectable,
  SetMetadata,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { mergeMap, type Observable } from 'rxjs';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { JobQueue } from '#libs/queue';
import { NotReplicated, REDIS, globalKeyPrefix, waitForReplicasOfAll, type RedisClient } from '#libs/redis';

const READS_ONLY = 'switchyard:reads-only';

/** A POST that writes nothing (a quote): answered without waiting for replicas. */
export const ReadsOnly = () => SetMetadata(READS_ONLY, true);

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * REDIS_WAIT_REPLICAS for every write the API acknowledges, not only a batch's 202: a key created or revoked, a
 * schedule, a repository, a cancel, an upload. Each is answered only once that many replicas hold it (and every
 * write before it, whichever connection made it: BullMQ's Job Scheduler too), so a failover cannot undo what a
 * client was told happened — a revoked key working again, a nightly schedule gone. Fewer in time: the
 * NotReplicated error, a 503 with Retry-After from either error filter; the write itself stands on the master.
 */
@Injectable()
export class ReplicatedWritesInterceptor implements NestInterceptor {
  private readonly fenceKey: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    this.fenceKey = `${globalKeyPrefix(config.prefix)}:replication-fence`;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const { wait } = this.config.redis;
    const method = context.switchToHttp().getRequest<Request>().method;
    if (wait.replicas === 0 || !WRITES.has(method) || this.reflector.get<boolean>(READS_ONLY, context.getHandler()))
      return next.handle();
    return next.handle().pipe(
      mergeMap(async (answer) => {
        try {
          await Promise.all([waitForReplicasOfAll(this.redis, this.fenceKey, wait), this.jobs.replicated()]);
        } catch (err) {
          // The write stands on the master: the error carries what was written, for a filter to name it.
          if (err instanceof NotReplicated) throw new NotReplicated(err.wanted, err.acknowledged, answer);
          throw err;
        }
        return answer;
      }),
    );
  }
}
