// The shapes VRAM/RAM arithmetic works on: what a device has and what a model takes of it.
export interface DeviceMemory {
  kind: 'gpu' | 'cpu';
  /** VRAM on a GPU, RAM on a CPU. */
  totalBytes: number;
  freeBytes: number;
  /** CPU only: cores the engine may use. Batching sequences amortizes reading the weights, which is what
   * bounds CPU decoding, until compute is the limit: measured here (bench:local, 493 MB F16 model, 2 cores)
   * 1 → 18.9, 2 → 20.0, 4 → 26.2, 8 → 24.9 tok/s. So a CPU pool plans CPU_SEQUENCES_PER_CORE per core. */
  cores?: number;
}

export interface ModelFootprint {
  /** Weights resident on the device. */
  modelBytes: number;
  /** Context memory (KV cache + compute buffers) for n sequences of the configured size; grows with n. */
  contextBytes(sequences: number): number;
}
