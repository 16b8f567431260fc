// The face of libs/lifecycle: what other libs, the apps and the tests use. Import it as '#libs/lifecycle'.
export { armShutdownDeadline, shutdownPlan } from './shutdown-deadline.js';
