import { Logger } from '@nestjs/common';

/** What the outage log needs of an ioredis client, a BullMQ Queue/Worker/QueueEvents or its backend. */
export interface ConnectionEvents {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

/** BullMQ's Queue, Worker and QueueEvents: 'error' carries each connection's errors, the backend says 'ready'. */
export interface QueueLike {
  on(event: 'error', listener: (err: Error) => void): unknown;
  getBackend(): { on(event: 'ready', listener: () => void): unknown };
}

// ioredis's and BullMQ's ways of saying "the server cannot be reached" (retries included).
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const CONNECTION_MESSAGE = new RegExp(
  [
    ...CONNECTION_CODES,
    'Connection is closed',
    'max retries per request',
    "Stream isn't writeable",
    // Sentinel names a master that is gone (until it promotes a replica), or no sentinel answers.
    'All sentinels are unreachable',
  ].join('|'),
  'i',
);

/** BullMQ's word, per job, for a lock it could not renew because the lock is no longer this worker's. */
const LOST_LOCK = /^could not renew lock for job /;

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && CONNECTION_CODES.has(code)) return true;
  return err.name === 'MaxRetriesPerRequestError' || CONNECTION_MESSAGE.test(err.message);
}

/**
 * One warning when this process loses Redis and one when it is back, however many clients it has and
 * however often each retries (ioredis emits an error per reconnect attempt, every 1–2 s; a client with
 * no 'error' listener prints "[ioredis] Unhandled error event" for each). Every client is watched: the
 * app's own, each BullMQ queue and worker (they open their own connections). The outage ends when every
 * connection that failed is ready again.
 */
export class RedisOutage {
  private readonly down = new Set<object>();
  private since: number | null = null;
  private errors = 0;
  private firstError = '';

  constructor(private readonly log: Pick<Logger, 'warn' | 'error'> = new Logger('redis')) {}

  /** Whether this process is in a Redis outage now (a connection failed and has not come back). */
  get active(): boolean {
    return this.since !== null;
  }

  /** Watches an ioredis client (or anything emitting its 'error' and 'ready'). */
  watchClient(client: ConnectionEvents, role: string): void {
    client.on('error', (err) => this.failed(client, role, err));
    client.on('ready', () => this.ready(client));
  }

  /** Watches a BullMQ Queue, Worker or QueueEvents: without an 'error' listener BullMQ prints every retry's error. */
  watchQueue(queue: QueueLike, role: string): void {
    queue.on('error', (err) => this.failed(queue, role, err));
    queue.getBackend().on('ready', () => this.ready(queue));
  }

  /**
   * For code that calls Redis on a timer (heartbeats, sweeps): true when `err` is a connection error,
   * which this outage has reported; the caller logs only other errors.
   */
  absorbs(err: unknown): boolean {
    if (!isConnectionError(err)) return false;
    this.errors += 1;
    // A command can fail before any watched client has said so; the next 'ready' ends that too.
    if (this.since === null) this.begin('command', err as Error);
    return true;
  }

  private failed(source: object, role: string, err: Error): void {
    if (LOST_LOCK.test(err.message)) {
      // Not Redis failing: a worker that stalled past its lock's duration (or whose lock key went). Its handler is
      // told to stop (the queue layer's JobContext.lost); the stalled check gives the job to a worker.
      this.log.warn({
        msg: "a job's lock was lost: its run here stops, and the job runs again",
        role,
        error: err.message,
      });
      return;
    }
    if (!isConnectionError(err)) {
      this.log.error({ msg: 'redis client error', role, error: err.message });
      return;
    }
    this.errors += 1;
    this.down.add(source);
    if (this.since === null) this.begin(role, err);
  }

  private begin(role: string, err: Error): void {
    this.since = Date.now();
    this.errors = 1;
    this.firstError = err.message;
    this.log.warn({
      msg: 'Redis unreachable; retrying until it is back (logged once per outage)',
      role,
      error: err.message,
    });
  }

  private ready(source: object): void {
    this.down.delete(source);
    if (this.since === null || this.down.size > 0) return;
    const downMs = Date.now() - this.since;
    this.log.warn({ msg: 'Redis reachable again', downMs, errors: this.errors, firstError: this.firstError });
    this.since = null;
  }
}

/** The process's one outage log: every Redis connection of the process reports into it. */
export const redisOutage = new RedisOutage();
