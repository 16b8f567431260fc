interface Scheduled {
  at: number;
  seq: number;
  run: () => void;
}

/**
 * Virtual-time events in a binary heap. Events at the same instant run in the order they were
 * scheduled, so a run is deterministic.
 */
export class EventQueue {
  private readonly heap: Scheduled[] = [];
  private seq = 0;
  now = 0;

  at(time: number, run: () => void): void {
    this.heap.push({ at: Math.max(time, this.now), seq: this.seq++, run });
    this.up(this.heap.length - 1);
  }

  /** Runs every event in time order, including those scheduled while running. */
  drain(): void {
    while (this.heap.length > 0) {
      const next = this.pop();
      this.now = next.at;
      next.run();
    }
  }

  get size(): number {
    return this.heap.length;
  }

  private pop(): Scheduled {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private before(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.before(h[l], h[m])) m = l;
      if (r < h.length && this.before(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
