/** One step of an edit script: keep a line of `a`, drop a line of `a`, or add a line of `b`. */
export type LineEdit = 'equal' | 'delete' | 'insert';

/**
 * A shortest edit script turning `a` into `b` (Myers' O(ND) algorithm, the linear-space "middle snake"
 * variant, after Neil Fraser's diff-match-patch `bisect`). Within a run of changes, deletions come
 * before insertions, as git prints them. Lines compare as exact strings, line breaks included.
 */
export function diffLines(a: readonly string[], b: readonly string[]): LineEdit[] {
  const ids = new Map<string, number>();
  const idOf = (line: string) => {
    let id = ids.get(line);
    if (id === undefined) ids.set(line, (id = ids.size));
    return id;
  };
  const edits: LineEdit[] = [];
  new MyersDiff(Int32Array.from(a, idOf), Int32Array.from(b, idOf), edits).run(0, a.length, 0, b.length);
  return deletionsFirst(edits);
}

class MyersDiff {
  constructor(
    private readonly a: Int32Array,
    private readonly b: Int32Array,
    private readonly edits: LineEdit[],
  ) {}

  run(aLo: number, aHi: number, bLo: number, bHi: number): void {
    while (aLo < aHi && bLo < bHi && this.a[aLo] === this.b[bLo]) {
      this.edits.push('equal');
      aLo++;
      bLo++;
    }
    let commonSuffix = 0;
    while (aLo < aHi && bLo < bHi && this.a[aHi - 1] === this.b[bHi - 1]) {
      aHi--;
      bHi--;
      commonSuffix++;
    }
    if (aLo === aHi || bLo === bHi) {
      for (let i = aLo; i < aHi; i++) this.edits.push('delete');
      for (let j = bLo; j < bHi; j++) this.edits.push('insert');
    } else {
      const [x, y] = this.split(aLo, aHi, bLo, bHi);
      this.run(aLo, x, bLo, y);
      this.run(x, aHi, y, bHi);
    }
    for (let i = 0; i < commonSuffix; i++) this.edits.push('equal');
  }

  /** A point on a shortest path through the edit graph, found where the forward and reverse searches meet. */
  private split(aLo: number, aHi: number, bLo: number, bHi: number): [number, number] {
    const { a, b } = this;
    const n = aHi - aLo;
    const m = bHi - bLo;
    const maxD = Math.ceil((n + m) / 2);
    const offset = maxD;
    // dmp sizes these 2·maxD and relies on JS arrays growing; one more slot each side keeps k = ±d in range.
    const length = 2 * maxD + 2;
    const forward = new Int32Array(length).fill(-1);
    const reverse = new Int32Array(length).fill(-1);
    forward[offset + 1] = 0;
    reverse[offset + 1] = 0;
    const delta = n - m;
    // With an odd delta the forward path meets a reverse one on its own step; with an even one, the reverse does.
    const forwardMeets = delta % 2 !== 0;
    // Diagonals that ran off the grid are not extended again.
    let forwardStart = 0;
    let forwardEnd = 0;
    let reverseStart = 0;
    let reverseEnd = 0;
    for (let d = 0; d < maxD; d++) {
      for (let k = -d + forwardStart; k <= d - forwardEnd; k += 2) {
        const at = offset + k;
        let x = k === -d || (k !== d && forward[at - 1] < forward[at + 1]) ? forward[at + 1] : forward[at - 1] + 1;
        let y = x - k;
        while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
          x++;
          y++;
        }
        forward[at] = x;
        if (x > n) forwardEnd += 2;
        else if (y > m) forwardStart += 2;
        else if (forwardMeets) {
          const reverseAt = offset + delta - k;
          if (reverseAt >= 0 && reverseAt < length && reverse[reverseAt] !== -1 && x >= n - reverse[reverseAt]) {
            return [aLo + x, bLo + y];
          }
        }
      }
      for (let k = -d + reverseStart; k <= d - reverseEnd; k += 2) {
        const at = offset + k;
        let x = k === -d || (k !== d && reverse[at - 1] < reverse[at + 1]) ? reverse[at + 1] : reverse[at - 1] + 1;
        let y = x - k;
        while (x < n && y < m && a[aHi - 1 - x] === b[bHi - 1 - y]) {
          x++;
          y++;
        }
        reverse[at] = x;
        if (x > n) reverseEnd += 2;
        else if (y > m) reverseStart += 2;
        else if (!forwardMeets) {
          const forwardAt = offset + delta - k;
          if (forwardAt >= 0 && forwardAt < length && forward[forwardAt] !== -1) {
            const fx = forward[forwardAt];
            const fy = fx - (forwardAt - offset);
            if (fx >= n - x) return [aLo + fx, bLo + fy];
          }
        }
      }
    }
    // Unreachable for a shortest path exists; replacing the whole range is still a correct script.
    return [aHi, bLo];
  }
}

function deletionsFirst(edits: LineEdit[]): LineEdit[] {
  const out: LineEdit[] = [];
  for (let i = 0; i < edits.length;) {
    if (edits[i] === 'equal') {
      out.push(edits[i++]);
      continue;
    }
    let deletes = 0;
    let inserts = 0;
    for (; i < edits.length && edits[i] !== 'equal'; i++) {
      if (edits[i] === 'delete') deletes++;
      else inserts++;
    }
    for (let k = 0; k < deletes; k++) out.push('delete');
    for (let k = 0; k < inserts; k++) out.push('insert');
  }
  return out;
}
