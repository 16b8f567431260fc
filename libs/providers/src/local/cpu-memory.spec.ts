import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cpuRam, readRam } from './cpu-memory.js';

const GiB = 1024 ** 3;

/** A root holding the given files, as /proc and /sys/fs/cgroup look inside a container. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("a CPU pool's RAM", () => {
  it("is the machine's where no memory limit applies", () => {
    const machine = { machineTotal: 256 * GiB, machineFree: 200 * GiB, groupUsage: 1 * GiB, processRss: GiB };
    expect(cpuRam(machine)).toEqual({ totalBytes: 256 * GiB, freeBytes: 200 * GiB });
    // Node reports "no limit" as 0, as undefined, or as a number past the machine's (2^64 on cgroup v1).
    for (const limit of [0, undefined, 2 ** 64]) expect(cpuRam({ ...machine, limit }).totalBytes).toBe(256 * GiB);
  });

  it("is the container's limit and what is left under it, not the host's free memory", () => {
    const pod = { machineTotal: 256 * GiB, machineFree: 200 * GiB, limit: 8 * GiB, processRss: 0.2 * GiB };
    expect(cpuRam({ ...pod, groupUsage: 3 * GiB })).toEqual({ totalBytes: 8 * GiB, freeBytes: 5 * GiB });
    // The group's usage unreadable: this process's resident set stands for it.
    expect(cpuRam({ ...pod, groupUsage: null })).toEqual({ totalBytes: 8 * GiB, freeBytes: 7.8 * GiB });
    // Never more than the machine has free, never below nothing.
    expect(cpuRam({ ...pod, machineFree: 2 * GiB, groupUsage: 1 * GiB }).freeBytes).toBe(2 * GiB);
    expect(cpuRam({ ...pod, groupUsage: 9 * GiB }).freeBytes).toBe(0);
  });

  it("reads the control group's usage on cgroup v2 and v1, at its path or at a namespaced root", () => {
    const v2 = fakeRoot({
      'proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      'sys/fs/cgroup/kubepods/pod1/c1/memory.current': '3221225472\n',
    });
    expect(readRam(v2).groupUsage).toBe(3 * GiB);
    const v2Namespaced = fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/memory.current': '1073741824\n' });
    expect(readRam(v2Namespaced).groupUsage).toBe(GiB);
    const v1 = fakeRoot({
      'proc/self/cgroup': '9:name=systemd:/\n4:memory:/docker/abc\n3:cpuset:/\n',
      'sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes': '2147483648\n',
    });
    expect(readRam(v1).groupUsage).toBe(2 * GiB);
    const v1Namespaced = fakeRoot({
      'proc/self/cgroup': '4:memory:/docker/abc\n',
      'sys/fs/cgroup/memory/memory.usage_in_bytes': '1073741824\n',
    });
    expect(readRam(v1Namespaced).groupUsage).toBe(GiB);
    expect(readRam(fakeRoot({})).groupUsage).toBeNull();
  });
});
