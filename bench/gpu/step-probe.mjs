// Engine throughput without the chat session: N sequences each evaluating 64 tokens, on the GPU the engine finds
// (FA=1: flash attention). What bench:local's raw limit is made of, for looking at it on a lent GPU.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { ensureGeneratedModel } from '../../dist/libs/gguf/src/ensure-model.js';
const path = await ensureGeneratedModel('bench');
const llama = await getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.debug, logger: (level, msg) => { if (/splits|offloaded/.test(msg)) console.log('[llama]', msg.trim().slice(0, 200)); } });
const model = await llama.loadModel({ modelPath: path });
for (const n of [8, 32, 32, 128]) {
  const ctx = await model.createContext({ contextSize: 512, sequences: n, threads: 2, flashAttention: process.env.FA === '1' });
  const t0 = performance.now();
  let tokens = 0;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const seq = ctx.getSequence();
    const input = model.tokenize('Summarize the following text in one paragraph: the quick brown fox '.repeat(8));
    let count = 0;
    for await (const t of seq.evaluate(input, { temperature: 0 })) { if (++count >= 64) break; }
    tokens += count;
  }));
  const ms = performance.now() - t0;
  console.log(`N=${n} evaluate(): ${tokens} tokens in ${ms.toFixed(0)} ms = ${(tokens / ms * 1000).toFixed(0)} tok/s`);
  await ctx.dispose();
}
