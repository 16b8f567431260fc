import { execFileSync } from 'node:child_process';

/**
 * Stops the shared Redis, then looks for processes the tests left running. With --runInBand every server a test spawns
 * (redis-server, the apps, the OpenAI double's CLI) is a child of this process, and one left alive keeps jest from
 * exiting: the run hangs until CI's limit and says nothing about why. Each such leak is a defect of the test that
 * started it; here it is named, with its command line, and killed, so the run ends and the log shows what to fix.
 */
export default async function globalTeardown() {
  await globalThis.__SWITCHYARD_REDIS__?.stop();
  for (const { pid, args } of childProcesses()) {
    console.warn(`a test left process ${pid} running (${args}); killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

function childProcesses() {
  let out;
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  } catch {
    return []; // none (ps exits 1), or no procps
  }
  return out
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((m) => m !== null && !/^ps -o pid=,args=/.test(m[2]))
    .map((m) => ({ pid: Number(m[1]), args: m[2].slice(0, 200) }));
}
