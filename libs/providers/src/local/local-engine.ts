import { cpus } from 'node:os';
import { GgufInsights, readGgufFileInfo, type Llama } from 'node-llama-cpp';
import type { DeviceMemory, ModelFootprint } from '#libs/domain';
import { cpuRam, readRam } from './cpu-memory.js';

export interface DeviceInfo {
  /** "cpu", or the GPU backend ("cuda", "vulkan", "metal"). */
  backend: string;
  names: string[];
  memory: DeviceMemory;
}

/**
 * What the engine runs on, with memory now: VRAM through getVramState, or RAM and cores on CPU (within the
 * container's memory limit, if it has one: cpuRam).
 */
export async function describeDevice(llama: Llama, threads: number): Promise<DeviceInfo> {
  if (llama.gpu === false) {
    return {
      backend: 'cpu',
      names: [cpus()[0]?.model ?? 'cpu'],
      memory: {
        kind: 'cpu',
        ...cpuRam(readRam()),
        cores: Math.min(threads > 1 ? threads : cpus().length, cpus().length),
      },
    };
  }
  const vram = await llama.getVramState();
  return {
    backend: llama.gpu,
    names: await llama.getGpuDeviceNames(),
    memory: { kind: 'gpu', totalBytes: vram.total, freeBytes: vram.free },
  };
}

export interface ModelEstimate extends ModelFootprint {
  fileBytes: number;
  layers: number;
  trainContextSize: number | undefined;
}

/**
 * Memory a model needs on its device, from the file's metadata alone (node-llama-cpp GgufInsights), before
 * anything is loaded. `contextSize` is per sequence, as in createContext. Context memory is estimated for one and two sequences and extended linearly
 * (KV cache grows per sequence; compute buffers do not) — the pool checks the chosen size exactly.
 */
export async function estimateModel(llama: Llama, modelPath: string, contextSize: number): Promise<ModelEstimate> {
  const insights = await GgufInsights.from(await readGgufFileInfo(modelPath), llama);
  const onGpu = llama.gpu !== false;
  const gpuLayers = onGpu ? insights.totalLayers : 0;
  const pick = (r: { cpuRam: number; gpuVram: number }) => (onGpu ? r.gpuVram : r.cpuRam);
  const model = pick(await insights.estimateModelResourceRequirementsV2({ gpuLayers }));
  const ctx = async (sequences: number) =>
    pick(await insights.estimateContextResourceRequirementsV2({ contextSize, modelGpuLayers: gpuLayers, sequences }));
  const one = await ctx(1);
  const two = await ctx(2);
  const perSequence = Math.max(0, two - one);
  return {
    fileBytes: insights.modelSize,
    layers: insights.totalLayers,
    trainContextSize: insights.trainContextSize,
    modelBytes: model,
    contextBytes: (n: number) => one + (n - 1) * perSequence,
  };
}
