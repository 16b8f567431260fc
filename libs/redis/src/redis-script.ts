import { crossSlot } from './key-slot.js';
import type { RedisClient } from './redis-client.js';

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
 * Every call checks that its keys share one hash slot, so a key in the wrong slot fails on a single Redis
 * as it would with CROSSSLOT on a Cluster (issue 14 §4).
 */
export function defineScript<Key extends string, Args extends readonly string[], Reply>(
  redis: RedisClient,
  script: RedisScript<Key, Args, Reply>,
): ScriptCall<Key, Args, Reply> {
  redis.defineCommand(script.name, { numberOfKeys: script.keys.length, lua: script.lua });
  // ioredis adds the command to the client at run time; its type cannot know it. This is the one place
  // that looks it up, checked against the declaration above.
  const commands = redis as RedisClient & Record<string, (...keysThenArgs: string[]) => Promise<Reply>>;
  return (keys, args) => {
    const named = script.keys.map((key) => keys[key]);
    const refused = crossSlot(`script ${script.name}`, named);
    return refused ? Promise.reject(refused) : commands[script.name](...named, ...args);
  };
}

/** A script over a list of keys whose length varies per call (a batch and all its items); ARGV typed as declared. */
export interface KeyListScript<Args extends readonly string[], Reply> {
  readonly name: string;
  readonly lua: string;
  /** Never set: carries the ARGV and reply types from the declaration to the call. */
  readonly types?: { args: Args; reply: Reply };
}

export function keyListScript<Args extends readonly string[], Reply>(script: {
  name: string;
  lua: string;
}): KeyListScript<Args, Reply> {
  return script;
}

/** Like defineScript, for a KeyListScript: every call passes its keys (one hash slot) and its ARGV. */
export function defineKeyListScript<Args extends readonly string[], Reply>(
  redis: RedisClient,
  script: KeyListScript<Args, Reply>,
): (keys: readonly string[], args: Args) => Promise<Reply> {
  // Without numberOfKeys, ioredis takes the key count as the first argument of each call.
  redis.defineCommand(script.name, { lua: script.lua });
  const commands = redis as RedisClient & Record<string, (...countKeysArgs: Array<string | number>) => Promise<Reply>>;
  return (keys, args) => {
    const refused = crossSlot(`script ${script.name}`, keys);
    return refused ? Promise.reject(refused) : commands[script.name](keys.length, ...keys, ...args);
  };
}
