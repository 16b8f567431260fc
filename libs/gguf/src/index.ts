// The face of libs/gguf: what other libs, the apps and the tests use. Import it as '#libs/gguf'.
export { ensureGeneratedModel } from './ensure-model.js';
