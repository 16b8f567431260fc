/**
 * How a process spends SHUTDOWN_TIMEOUT_MS once it is told to stop: running jobs drain for most of it,
 * then connections and models close, then it exits whatever is still pending; a supervisor (the
 * launcher) kills what is left just before the end. With Redis gone, BullMQ's close and ioredis's QUIT
 * wait for a reconnect that never comes (issue 12: processes alive 40 s after SIGTERM with a 10 s budget).
 */
export interface ShutdownPlan {
  /** Running jobs may finish until then; after it they are left active in Redis for stalled-job recovery. */
  drainMs: number;
  /** The process exits at this point even if something is still closing. */
  exitMs: number;
  /** A supervisor SIGKILLs a child still alive at this point. */
  killMs: number;
}

export function shutdownPlan(timeoutMs: number): ShutdownPlan {
  const step = Math.min(1000, Math.round(timeoutMs / 20)); // 10 s → 500 ms; 2 s → 100 ms
  return { drainMs: Math.max(0, timeoutMs - 4 * step), exitMs: timeoutMs - 2 * step, killMs: timeoutMs - step };
}

/**
 * The hard deadline of a shutdown that began now on `signal`: at `exitMs` the process logs one line and exits
 * with code 1. The timer is unref'd, so a shutdown that finishes in time exits as usual.
 */
export function exitAtDeadline(context: string, timeoutMs: number, signal: NodeJS.Signals): void {
  const { exitMs } = shutdownPlan(timeoutMs);
  const startedAt = Date.now();
  setTimeout(() => {
    const line = {
      level: 'warn',
      pid: process.pid,
      timestamp: Date.now(),
      context,
      message: {
        msg: 'shutdown did not finish in time; exiting (running jobs are recovered as stalled by the next worker)',
        signal,
        afterMs: Date.now() - startedAt,
        shutdownTimeoutMs: timeoutMs,
      },
    };
    process.stderr.write(`${JSON.stringify(line)}\n`);
    process.exit(1);
  }, exitMs).unref();
}
