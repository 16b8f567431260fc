import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';

/** What the machine and the process's control group say about RAM, bytes. */
export interface RamReadings {
  /** The machine's (os.totalmem / os.freemem): a container sees its host's. */
  machineTotal: number;
  machineFree: number;
  /** The control group's limit (process.constrainedMemory); absent, 0 or past the machine's: none. */
  limit?: number;
  /** What the control group uses now (its memory.current / memory.usage_in_bytes); null: not readable. */
  groupUsage: number | null;
  /** This process's resident set: the group's usage when that cannot be read. */
  processRss: number;
}

/**
 * RAM a CPU pool may plan with: the machine's, or, in a container with a memory limit (a Kubernetes
 * `limits.memory`, `docker run --memory`), the limit and what is left under it. os.totalmem and os.freemem
 * report the host's memory inside a container, so a pod limited to 8 GiB on a 256 GiB node planned sequences
 * for the node and was killed for memory instead of running fewer.
 */
export function cpuRam(r: RamReadings): { totalBytes: number; freeBytes: number } {
  const limited = r.limit !== undefined && r.limit > 0 && r.limit < r.machineTotal;
  if (!limited) return { totalBytes: r.machineTotal, freeBytes: r.machineFree };
  const used = r.groupUsage ?? r.processRss;
  return { totalBytes: r.limit!, freeBytes: Math.max(0, Math.min(r.machineFree, r.limit! - used)) };
}

/** The readings of this process, from the OS, Node and the cgroup filesystem under `root` (tests give another). */
export function readRam(root = '/'): RamReadings {
  return {
    machineTotal: totalmem(),
    machineFree: freemem(),
    limit: process.constrainedMemory?.(),
    groupUsage: groupUsage(root),
    processRss: process.memoryUsage.rss(),
  };
}

/**
 * The memory the process's control group uses: cgroup v2 (`0::<path>` in /proc/self/cgroup, its memory.current)
 * or v1 (the `memory` controller's line, its memory.usage_in_bytes). Inside a container's cgroup namespace the
 * group is the mount's root, so the root's file is read where the path's is not there.
 */
function groupUsage(root: string): number | null {
  let lines: string[];
  try {
    lines = readFileSync(join(root, 'proc/self/cgroup'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const candidates: string[] = [];
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (controllers === '') candidates.push(join(root, 'sys/fs/cgroup', path, 'memory.current'));
    else if (controllers.split(',').includes('memory')) {
      candidates.push(join(root, 'sys/fs/cgroup/memory', path, 'memory.usage_in_bytes'));
      candidates.push(join(root, 'sys/fs/cgroup/memory/memory.usage_in_bytes'));
    }
  }
  candidates.push(join(root, 'sys/fs/cgroup/memory.current'));
  for (const file of candidates) {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value) && value > 0) return value;
    } catch {
      // not this one
    }
  }
  return null;
}
