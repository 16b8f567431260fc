import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { schemaProblem } from './structured-output.js';

/**
 * ajv compiles a schema synchronously, generating code: ~0.1-1.5 s for 100-1000 properties on a busy
 * 2-core machine. Done in the request, it stopped the whole API (`/health` took 8 s; issue 13 §4), so the
 * API compiles extract schemas on a worker thread, one at a time, each within COMPILE_TIMEOUT_MS.
 */
const COMPILE_TIMEOUT_MS = 10_000;

const WORKER_FILE = new URL('./schema-compile.worker.js', import.meta.url);

interface Pending {
  resolve: (problem: string | null) => void;
  timer: NodeJS.Timeout;
}

export class SchemaCompileThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  // One compile at a time: the timeout then measures the compile, not the queue before it.
  private tail: Promise<unknown> = Promise.resolve();

  /** Why `schema` cannot be used to check answers, or null. Never throws. */
  problemOf(schema: Record<string, unknown>): Promise<string | null> {
    const run = this.tail.then(() => this.compile(schema));
    this.tail = run;
    return run;
  }

  private compile(schema: Record<string, unknown>): Promise<string | null> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stop(); // a compile past its time is killed with its thread; the next one starts a fresh thread
        resolve(`it took longer than ${COMPILE_TIMEOUT_MS / 1000} s to compile; simplify it`);
      }, COMPILE_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      worker.postMessage({ id, schema });
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_FILE);
    worker.on('message', ({ id, problem }: { id: number; problem: string | null }) => {
      const job = this.pending.get(id);
      if (!job) return;
      clearTimeout(job.timer);
      this.pending.delete(id);
      job.resolve(problem);
    });
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, job] of this.pending) {
        clearTimeout(job.timer);
        this.pending.delete(id);
        job.resolve(`it could not be compiled (${why})`);
      }
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`compiler exited with code ${code}`));
    // After the listeners: adding a 'message' listener refs the worker again. An idle compiler (or one
    // compiling while the process shuts down) never keeps a process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private stop(): void {
    const worker = this.worker;
    this.worker = null;
    void worker?.terminate();
  }
}

/**
 * Why an extract schema cannot be used to check answers, or null: on a worker thread where the compiled
 * worker file exists (the built apps), in this thread otherwise (unit tests run the TypeScript sources).
 */
export const compileProblem: (schema: Record<string, unknown>) => Promise<string | null> = compilerHere();

function compilerHere(): (schema: Record<string, unknown>) => Promise<string | null> {
  if (!existsSync(fileURLToPath(WORKER_FILE))) return (schema) => Promise.resolve(schemaProblem(schema));
  const thread = new SchemaCompileThread();
  return (schema) => thread.problemOf(schema);
}
