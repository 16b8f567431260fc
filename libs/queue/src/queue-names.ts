import type { WorkItem } from '#libs/batches/src/batch-types.js';
import type { AppConfig } from '#libs/config/src/app-config.js';

/**
 * Kinds of queue. Each provider gets its own queue of its kind (one per local model, one per cloud
 * provider), so pools consume only work meant for them and Bull Board shows each separately.
 * A new kind must get an entry in QUEUE_SETTINGS or nothing compiles.
 */
export enum QueueKind {
  LocalInference = 'inference-local',
  CloudInference = 'inference-cloud',
  /** Housekeeping sweeps fired by Job Schedulers: each slot runs once, whichever worker takes it. */
  Maintenance = 'maintenance',
}

/** The maintenance queue of the escalation sweeps. */
export const MAINTENANCE_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'sweeps' };

/** The queue users' schedules fire into: one Job Scheduler per schedule. */
export const SCHEDULES_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'schedules' };

export interface QueueRef {
  kind: QueueKind;
  /** Local model name or cloud provider name. */
  provider: string;
}

/** `inference-local.llama-8b`, `inference-cloud.frontier` */
export function queueName(ref: QueueRef): string {
  return `${ref.kind}.${ref.provider}`;
}

export function queueRefFor(target: 'local' | 'cloud', provider: string): QueueRef {
  return { kind: target === 'local' ? QueueKind.LocalInference : QueueKind.CloudInference, provider };
}

/** Every queue a deployment with this config has. */
export function configuredQueues(config: Pick<AppConfig, 'localModels' | 'cloudProviders'>): QueueRef[] {
  return [
    ...config.localModels.map((m) => queueRefFor('local', m.name)),
    ...config.cloudProviders.map((p) => queueRefFor('cloud', p.name)),
    MAINTENANCE_QUEUE,
    SCHEDULES_QUEUE,
  ];
}

/** Job names and their payloads, declared once and checked by the compiler. */
export enum JobName {
  RunItem = 'run-item',
  EscalationSweep = 'escalation-sweep',
  FireSchedule = 'fire-schedule',
}

export interface JobPayloads {
  [JobName.RunItem]: WorkItem;
  [JobName.EscalationSweep]: Record<string, never>;
  [JobName.FireSchedule]: { schedule: string };
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
