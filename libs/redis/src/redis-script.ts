import type { Redis } from 'ioredis';

/**
 * A Lua script with what a call must pass and gets back: the names of its KEYS, in order (a call names
 * each key, so KEYS[1] can never be swapped with KEYS[2]), its ARGV tuple and its reply. Declared once,
 * beside the Lua whose comment says what each key and argument means.
 */
export interface RedisScript<Key extends string, Args extends readonly string[], Reply> {
  /** The command name on the client; unique per client. */
  readonly name: string;
  readonly keys: readonly Key[];
  readonly lua: string;
  /** Never set: carries the ARGV and reply types from the declaration to the call. */
  readonly types?: { args: Args; reply: Reply };
}

/** A defined script: its keys by name, its ARGV in order, its reply typed. */
export type ScriptCall<Key extends string, Args extends readonly string[], Reply> = (
  keys: Record<Key, string>,
  args: Args,
) => Promise<Reply>;

/** Declares a script; `defineScript` makes it callable on a client. */
export function redisScript<Key extends string, Args extends readonly string[], Reply>(script: {
  name: string;
  keys: readonly Key[];
  lua: string;
}): RedisScript<Key, Args, Reply> {
  return script;
}

/**
 * Defines the script on `redis` (ioredis then runs it by EVALSHA, loading it again after a Redis restart)
 * and returns the typed function that calls it. Defining the same script twice on one client is harmless.
 */
export function defineScript<Key extends string, Args extends readonly string[], Reply>(
  redis: Redis,
  script: RedisScript<Key, Args, Reply>,
): ScriptCall<Key, Args, Reply> {
  redis.defineCommand(script.name, { numberOfKeys: script.keys.length, lua: script.lua });
  // ioredis adds the command to the client at run time; its type cannot know it. This is the one place
  // that looks it up, checked against the declaration above.
  const commands = redis as Redis & Record<string, (...keysThenArgs: string[]) => Promise<Reply>>;
  return (keys, args) => commands[script.name](...script.keys.map((key) => keys[key]), ...args);
}
