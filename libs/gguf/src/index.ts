// The face of libs/gguf: what other libs, the apps and the tests use. Import it as '#libs/gguf'.
export { defaultModelPath, ensureGeneratedModel, writeModelAtomically } from './ensure-model.js';
export { DEFAULT_MODEL_SEED, LLAMA_PRESETS, isLlamaPreset, type LlamaPreset } from './random-llama-model.js';
