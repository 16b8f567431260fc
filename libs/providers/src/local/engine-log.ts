import type { LlamaLogLevel } from 'node-llama-cpp';

/**
 * Where llama.cpp's own log lines go (node-llama-cpp's `logger`); unset, node-llama-cpp writes them to the
 * console. llama.cpp hands its lines over from its own threads, so they reach JavaScript on a later turn of
 * the event loop, after the call that caused them has returned or thrown.
 */
export type EngineLogger = (level: LlamaLogLevel, message: string) => void;

/**
 * An EngineLogger that keeps the lines it is given, for tests. Jest closes a test file's console when the file
 * ends, and a line llama.cpp wrote in the file's last moments (a grammar it could not parse, a model file it
 * could not load) can arrive after that: through the console it fails the run ("Cannot log after tests are
 * done"); here it is kept, and the test may read it.
 */
export function keptEngineLog(): { logger: EngineLogger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: (level, message) => void lines.push(`${level}: ${message}`) };
}
