import type { CallbackEvent, WorkItem } from '#libs/domain';
import type { AppConfig } from '#libs/config';

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
  /** Signed callback deliveries (issue 15 §5): one job per event, retried with backoff until the receiver answers 2xx. */
  Callbacks = 'callbacks',
}

/** The maintenance queue of the escalation sweeps. */
export const MAINTENANCE_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'sweeps' };

/** The queue users' schedules fire into: one Job Scheduler per schedule. */
export const SCHEDULES_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'schedules' };

/**
 * Where finished batches write their output (a branch of the source repository), and the sweep that
 * catches a batch whose trigger was lost to a crash. Its own queue: the sweeps queue's consumer takes
 * every job it sees as an escalation sweep.
 */
export const OUTPUTS_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'outputs' };

/** The results retention sweep (RESULT_TTL): finished batches past it are deleted, one pass at a time. */
export const RETENTION_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'retention' };

/** Large batches accepted on their validated body, expanded into items by a worker (BatchIntake.expand, issue 17 §2). */
export const INTAKE_QUEUE: QueueRef = { kind: QueueKind.Maintenance, provider: 'intake' };

/** Callback deliveries, and the sweep that enqueues the events of finished batches whose trigger a crash ate. */
export const CALLBACKS_QUEUE: QueueRef = { kind: QueueKind.Callbacks, provider: 'deliveries' };

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

/** A limiter's `max` that never limits (no requests-per-minute quota): BullMQ needs one to pause on. */
export const NO_REQUEST_LIMIT = 1_000_000_000;

/**
 * The `max` of the BullMQ limiter every worker of the queue consumes with: a cloud provider's
 * CLOUD_REQUESTS_PER_MINUTE, else one that never limits. Its counter runs on every queue, so only a counter at
 * this (or a wait a worker set, which fills it) means the queue is held back.
 */
export function limiterMax(requestsPerMinute: number | null | undefined): number {
  return requestsPerMinute || NO_REQUEST_LIMIT;
}

/** limiterMax of a configured queue: its cloud provider's quota, if it has one. */
export function queueLimiterMax(ref: QueueRef, config: Pick<AppConfig, 'cloudProviders'>): number {
  const cloud =
    ref.kind === QueueKind.CloudInference ? config.cloudProviders.find((p) => p.name === ref.provider) : undefined;
  return limiterMax(cloud?.requestsPerMinute);
}

/** Every queue a deployment with this config has. */
export function configuredQueues(
  config: Pick<AppConfig, 'localModels' | 'cloudProviders'> & Partial<Pick<AppConfig, 'enginePools'>>,
): QueueRef[] {
  return [
    ...config.localModels.map((m) => queueRefFor('local', m.name)),
    // An engine pool (ENGINE_POOLS) is a local route: its queue is a local one, placed earliest-deadline-first.
    ...(config.enginePools ?? []).map((p) => queueRefFor('local', p.name)),
    ...config.cloudProviders.map((p) => queueRefFor('cloud', p.name)),
    MAINTENANCE_QUEUE,
    SCHEDULES_QUEUE,
    OUTPUTS_QUEUE,
    CALLBACKS_QUEUE,
    RETENTION_QUEUE,
    INTAKE_QUEUE,
  ];
}

/** Job names and their payloads, declared once and checked by the compiler. */
export enum JobName {
  RunItem = 'run-item',
  EscalationSweep = 'escalation-sweep',
  FireSchedule = 'fire-schedule',
  /** Commits a finished code migration's files to the new branch it asked for. */
  WriteBranchOutput = 'write-branch-output',
  /** Enqueues WriteBranchOutput for finished batches whose output is still pending. */
  BranchOutputSweep = 'branch-output-sweep',
  /** POSTs one signed event to a batch's callback URL; the job id is the event id. */
  DeliverCallback = 'deliver-callback',
  /** Enqueues the events of finished batches whose callbacks are still pending. */
  CallbackSweep = 'callback-sweep',
  /** Deletes batches finished more than RESULT_TTL ago. */
  RetentionSweep = 'retention-sweep',
  /** Routes, writes, audits and enqueues the items of a batch accepted on its validated body. */
  ExpandBatch = 'expand-batch',
  /** Requeues the expansion of accepted batches still pending whose job gave up (or was lost). */
  IntakeSweep = 'intake-sweep',
}

export interface JobPayloads {
  [JobName.RunItem]: WorkItem;
  [JobName.EscalationSweep]: Record<string, never>;
  [JobName.FireSchedule]: { schedule: string };
  [JobName.WriteBranchOutput]: { batchId: string };
  [JobName.BranchOutputSweep]: Record<string, never>;
  [JobName.DeliverCallback]: { batchId: string; event: CallbackEvent; index?: number };
  [JobName.CallbackSweep]: Record<string, never>;
  [JobName.RetentionSweep]: Record<string, never>;
  [JobName.ExpandBatch]: { batchId: string };
  [JobName.IntakeSweep]: Record<string, never>;
}

export interface JobSpec<N extends JobName = JobName> {
  name: N;
  data: JobPayloads[N];
  /** Deterministic id: adding the same job twice is a no-op, which makes enqueueing retry-safe. */
  jobId: string;
  /** 1 (highest) … 2_097_151; earlier deadlines get higher priority. */
  priority?: number;
  /** Not to be taken before this many milliseconds from now (an item parked for a provider that is down). */
  delayMs?: number;
}

/** The job id of a batch's expansion: one per batch, so a retried submission adds nothing. */
export function expandJobId(batchId: string): string {
  return `expand.${batchId}`;
}

/** The job id of one item: stable across retries and re-submissions of the same batch. */
export function itemJobId(batchId: string, index: number): string {
  return `${batchId}.${index}`;
}

/** The job id of a batch's branch output: the finish trigger and the sweep add the same job, never two. */
export function branchOutputJobId(batchId: string): string {
  return `branch-output.${batchId}`;
}
