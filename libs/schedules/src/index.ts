// The face of libs/schedules: what other libs, the apps and the tests use. Import it as '#libs/schedules'.
export { ScheduleNameTaken, ScheduleService } from './schedule-service.js';
export { scheduleSchema, type ScheduleRules } from './schedule-submission.js';
export { ScheduleStore } from './schedule-store.js';
export { type ScheduleOwner, type ScheduleView } from './schedule-types.js';
