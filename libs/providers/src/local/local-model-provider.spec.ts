import { describe, expect, it } from '@jest/globals';
import type { LlamaGrammar } from 'node-llama-cpp';
import { GrammarCache } from './local-model-provider.js';

/** A cache whose compiles are counted, each grammar standing for the schema it was made of. */
function counting(bound?: number) {
  const compiled: string[] = [];
  const cache = new GrammarCache(async (schema) => {
    compiled.push(JSON.stringify(schema));
    if (schema.fails) throw new Error('unsupported schema');
    return { grammar: JSON.stringify(schema) } as unknown as LlamaGrammar;
  }, bound);
  return { cache, compiled };
}

const schemaNo = (n: number) => ({ type: 'object', properties: { [`field${n}`]: { type: 'string' } } });

describe('GrammarCache', () => {
  it('keeps no more grammars than its bound, however many distinct schemas chat items bring', async () => {
    const { cache, compiled } = counting();
    for (let n = 0; n < 500; n++) await cache.for(schemaNo(n));
    expect(compiled).toHaveLength(500);
    expect(cache.size).toBe(cache.bound);
    expect(cache.bound).toBeLessThanOrEqual(64);
  });

  it('compiles a schema once while it is in use, and drops the least recently used first', async () => {
    const { cache, compiled } = counting(2);
    const first = await cache.for(schemaNo(1));
    await cache.for(schemaNo(2));
    expect(await cache.for(schemaNo(1))).toBe(first); // now the most recently used
    await cache.for(schemaNo(3)); // drops schema 2
    await cache.for(schemaNo(1));
    expect(compiled).toHaveLength(3);
    await cache.for(schemaNo(2));
    expect(compiled).toHaveLength(4);
    expect(cache.size).toBe(2);
  });

  it('keeps no failed compile: the next request for the schema compiles it again', async () => {
    const { cache, compiled } = counting();
    const failing = { type: 'object', fails: true };
    await expect(cache.for(failing)).rejects.toThrow('unsupported schema');
    expect(cache.size).toBe(0);
    await expect(cache.for(failing)).rejects.toThrow('unsupported schema');
    expect(compiled).toHaveLength(2);
  });
});
