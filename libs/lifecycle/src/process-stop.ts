import { exitAtDeadline } from './shutdown-deadline.js';

/** What a stop closes: a Nest application or application context. */
export interface Closable {
  close(signal?: string): Promise<void>;
}

/**
 * The process's one answer to SIGTERM and SIGINT, listening from before start-up until the exit. Nest's
 * `enableShutdownHooks()` listens only once the app exists, which for the worker is after its pools have started:
 * a signal during start-up only armed the deadline, the pools started and took jobs, and the deadline cut them
 * off (exit 1, jobs left active until JOB_LOCK_MS lapsed, a stall counted). Here a signal at any point:
 *
 * - arms the deadline (the process exits within SHUTDOWN_TIMEOUT_MS whatever Redis does, issue 12 §5);
 * - aborts `signal`, which start-up steps check so that nothing more starts (no pool starts consuming);
 * - closes the app once start-up has handed it over (`closes`): at once if start-up had already finished, else
 *   when it does, so a close never runs beside a start still under way; then the process exits 0.
 *
 * A second signal changes nothing: the shutdown under way and its deadline stand.
 */
export class ProcessStop {
  private readonly stopping = new AbortController();
  private app?: Closable;
  private closing = false;

  private constructor(
    private readonly context: string,
    private readonly timeoutMs: number,
  ) {}

  /** Listens for SIGTERM and SIGINT from now on; call it before anything starts. */
  static listen(context: string, timeoutMs: number): ProcessStop {
    const stop = new ProcessStop(context, timeoutMs);
    for (const name of ['SIGTERM', 'SIGINT'] as const) process.on(name, (signal) => stop.onSignal(signal));
    return stop;
  }

  /** Aborted, with the signal's name as its reason, once the process is told to stop. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  get requested(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Start-up is over: a stop closes `app` (now, if one was asked for meanwhile) and exits. */
  closes(app: Closable): void {
    this.app = app;
    if (this.requested) void this.close();
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.requested) return;
    exitAtDeadline(this.context, this.timeoutMs, signal);
    this.stopping.abort(signal);
    if (this.app) void this.close();
  }

  private async close(): Promise<void> {
    if (this.closing || !this.app) return;
    this.closing = true;
    try {
      await this.app.close(this.stopping.signal.reason as string);
    } catch (err) {
      const line = {
        level: 'error',
        pid: process.pid,
        timestamp: Date.now(),
        context: this.context,
        message: { msg: 'shutdown failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
      };
      process.stderr.write(`${JSON.stringify(line)}\n`);
      process.exit(1);
    }
    // Exited, not re-killed by the signal as Nest's hooks did: as PID 1 (a container without an init) the signal
    // would be ignored, leaving the process to the deadline's exit 1 if anything still held the event loop.
    process.exit(0);
  }
}
