// The face of libs/privacy: what other libs, the apps and the tests use. Import it as '#libs/privacy'.
export { effectiveSensitivity } from './effective-sensitivity.js';
export { detectPii } from './pii-detector.js';
export { DEFAULT_PII_RULES, parsePiiRules, type PiiRules } from './pii-rules.js';
export { textsIn } from './texts-in.js';
export { PII_CATEGORIES, type PiiCategory } from './pii-rules.js';
export { type PiiDetection } from './pii-detector.js';
