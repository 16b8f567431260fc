// The face of libs/queue: what other libs, the apps and the tests use. Import it as '#libs/queue'.
export { boardJobData } from './board-job-data.js';
export { bullPrefix } from './bull-prefix.js';
export { BULL_SETTINGS, nextCronSlot } from './cron-slots.js';
export { deadlinePriority, isDeferredPriority } from './deadline-priority.js';
export { InMemoryJobQueue } from './in-memory-job-queue.js';
export { LockLost, PermanentJobError, Preempted, RateLimited } from './job-errors.js';
export { JobQueue } from './job-queue.js';
export { type ConsumerHandle, type JobContext, type QueueLayer } from './queue-layer.js';
export {
  CALLBACKS_QUEUE,
  INTAKE_QUEUE,
  RETENTION_QUEUE,
  JobName,
  MAINTENANCE_QUEUE,
  OUTPUTS_QUEUE,
  QueueKind,
  SCHEDULES_QUEUE,
  branchOutputJobId,
  configuredQueues,
  queueLimiterMax,
  expandJobId,
  itemJobId,
  queueName,
  queueRefFor,
  type JobPayloads,
  type JobSpec,
  type QueueRef,
} from './queue-names.js';
export { QueueModule } from './queue.module.js';
