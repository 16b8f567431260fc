// The face of libs/lifecycle: what other libs, the apps and the tests use. Import it as '#libs/lifecycle'.
export { ProcessStop, type Closable } from './process-stop.js';
export { shutdownPlan } from './shutdown-deadline.js';
