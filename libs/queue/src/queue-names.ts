import type { WorkItem } from '#libs/batches/src/batch-types.js';

/** Every queue Switchyard has. A new one must get an entry in QUEUE_SETTINGS or nothing compiles. */
export enum QueueName {
  LocalInference = 'inference-local',
  CloudInference = 'inference-cloud',
}

export const ALL_QUEUES: readonly QueueName[] = Object.values(QueueName);

/** Job names and their payloads, declared once and checked by the compiler. */
export enum JobName {
  RunItem = 'run-item',
}

export interface JobPayloads {
  [JobName.RunItem]: WorkItem;
}

export interface JobSpec<N extends JobName = JobName> {
  name: N;
  data: JobPayloads[N];
  /** Deterministic id: adding the same job twice is a no-op, which makes enqueueing retry-safe. */
  jobId: string;
  /** 1 (highest) … 2_097_151; earlier deadlines get higher priority. */
  priority?: number;
}

/** The job id of one item: stable across retries and re-submissions of the same batch. */
export function itemJobId(batchId: string, index: number): string {
  return `${batchId}.${index}`;
}
