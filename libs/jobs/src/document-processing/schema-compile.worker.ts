import { parentPort } from 'node:worker_threads';
import { schemaProblem } from './structured-output.js';

/** One job: compile a schema, answer why it cannot be used (or null). Run by SchemaCompileThread. */
parentPort?.on('message', ({ id, schema }: { id: number; schema: Record<string, unknown> }) => {
  let problem: string | null;
  try {
    problem = schemaProblem(schema);
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  parentPort?.postMessage({ id, problem });
});
