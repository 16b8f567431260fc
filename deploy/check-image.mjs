#!/usr/bin/env node
// `npm run deploy:check [-- --target cpu] [--keep]`: proves deploy/Dockerfile's logic where no Docker engine
// runs. It fills an empty directory from `git archive HEAD` as .dockerignore filters it (the build context a
// `docker build` would get: committed files only), performs the Dockerfile's steps for the target stage by
// stage (WORKDIR, ENV, COPY, COPY --from, RUN; each stage's filesystem a folder), then starts the built image's
// entrypoint as compose does (api and worker roles, compose's environment, a private Redis with deploy's
// redis.conf) and waits for GET /ready. The base image is this machine's Node 20; RUN steps that name the
// image's user (chown) are skipped, as no such user exists here. Prints one JSON line; exits non-zero on failure.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import jsYaml from 'js-yaml';
import { minimatch } from 'minimatch';

const { values: args } = parseArgs({
  options: { target: { type: 'string', default: 'cpu' }, keep: { type: 'boolean', default: false } },
});
const repo = resolve(dirname(new URL(import.meta.url).pathname), '..');
const work = mkdtempSync(join(tmpdir(), 'switchyard-image-'));
const started = Date.now();
const children = [];
const log = (msg) => process.stderr.write(`[deploy:check] ${msg}\n`);

try {
  const context = join(work, 'context');
  buildContext(context);
  const stages = parseDockerfile(readFileSync(join(context, 'deploy/Dockerfile'), 'utf8'));
  const image = runStage(stages, args.target, context, new Map());
  const result = await startImage(image);
  console.log(JSON.stringify({ target: args.target, ...result, seconds: Math.round((Date.now() - started) / 1000) }));
} catch (err) {
  console.error(`[deploy:check] FAILED: ${err instanceof Error ? err.message : err}`);
  process.exitCode = 1;
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (!args.keep) rmSync(work, { recursive: true, force: true });
  else log(`kept ${work}`);
}

/** `git archive HEAD` unpacked, less what .dockerignore excludes (a path is out if it or a parent matches). */
function buildContext(dir) {
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git -C "${repo}" archive HEAD | tar -x -C "${dir}"`]);
  const patterns = readFileSync(join(dir, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const files = execFileSync('git', ['-C', repo, 'ls-tree', '-r', '--name-only', 'HEAD'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  let excluded = 0;
  for (const file of files) {
    const parts = file.split('/');
    const ignored = parts.some((_, i) =>
      patterns.some((p) => minimatch(parts.slice(0, i + 1).join('/'), p, { dot: true })),
    );
    if (ignored) {
      rmSync(join(dir, file), { force: true });
      excluded += 1;
    }
  }
  log(`context: ${files.length - excluded} files (${excluded} excluded by .dockerignore)`);
}

/** Stages in order: {name, from, steps: [{op, args}]}; ARG defaults substituted; line continuations joined. */
function parseDockerfile(text) {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const argDefaults = {};
  const stages = [];
  for (const line of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    const expanded = rest?.replace(/\$\{(\w+)\}/g, (_, name) => argDefaults[name] ?? '');
    if (op === 'ARG') {
      const [name, value] = rest.split('=');
      argDefaults[name] = value ?? argDefaults[name];
    } else if (op === 'FROM') {
      const [from, , name] = expanded.split(/\s+/);
      stages.push({ name: name ?? String(stages.length), from, steps: [] });
    } else if (stages.length > 0) {
      stages.at(-1).steps.push({ op, args: expanded });
    }
  }
  return stages;
}

/** Runs `name` (and the stages it copies from, first); returns its root folder, workdir and env. */
function runStage(stages, name, context, done) {
  if (done.has(name)) return done.get(name);
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name} in deploy/Dockerfile`);
  if (!/^node:20/.test(stage.from))
    throw new Error(`stage ${name} is FROM ${stage.from}: only node:20 stages can run here`);
  const root = join(work, 'stages', name);
  mkdirSync(root, { recursive: true });
  const state = { root, workdir: '/', env: {}, user: 'root', entrypoint: null, healthcheck: null };
  const inStage = (p, base = state.workdir) => join(root, p.startsWith('/') ? p : join(base, p));
  for (const { op, args: a } of stage.steps) {
    switch (op) {
      case 'WORKDIR':
        state.workdir = a;
        mkdirSync(inStage(a), { recursive: true });
        break;
      case 'ENV':
        for (const [, k, v] of a.matchAll(/(\w+)=("[^"]*"|\S+)/g)) state.env[k] = v.replace(/^"|"$/g, '');
        break;
      case 'COPY': {
        const words = a.split(/\s+/);
        const from = words[0].startsWith('--from=') ? words.shift().slice('--from='.length) : null;
        const dest = words.pop();
        const source = from ? runStage(stages, from, context, done) : null;
        for (const src of words) {
          const path = from ? join(source.root, src) : join(context, src);
          if (!existsSync(path)) throw new Error(`COPY ${src}: not in ${from ? `stage ${from}` : 'the build context'}`);
          const target =
            dest.endsWith('/') || words.length > 1 ? join(inStage(dest), src.split('/').pop()) : inStage(dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(path, target, { recursive: true });
        }
        break;
      }
      case 'RUN': {
        if (/\bchown\b/.test(a)) {
          const withoutChown = a
            .split('&&')
            .filter((c) => !/\bchown\b/.test(c))
            .join('&&')
            .trim();
          if (!withoutChown) break;
          execIn(withoutChown, inStage('.'), state.env);
        } else execIn(a, inStage('.'), state.env);
        break;
      }
      case 'USER':
        state.user = a;
        break;
      case 'ENTRYPOINT':
        state.entrypoint = JSON.parse(a);
        break;
      case 'HEALTHCHECK':
        state.healthcheck = JSON.parse(a.slice(a.indexOf('CMD') + 3).trim());
        break;
      default:
        break; // EXPOSE, LABEL: nothing to do on a filesystem
    }
  }
  log(`stage ${name}: done`);
  done.set(name, state);
  return state;
}

function execIn(command, cwd, env) {
  log(`RUN ${command.slice(0, 100)}`);
  execFileSync('sh', ['-c', command], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Whether the production dependency tree (`npm ls --omit=dev`) holds `name`. */
function neededAtRuntime(name) {
  try {
    return (
      execFileSync('npm', ['ls', name, '--omit=dev', '--parseable'], { cwd: repo, encoding: 'utf8' }).trim() !== ''
    );
  } catch {
    return false; // npm ls exits 1 when the package is not in that tree
  }
}

/** The image's entrypoint as compose runs it: Redis, then api and worker with compose's environment. */
async function startImage(image) {
  if (image.user === 'root') throw new Error('the runtime stage runs as root: it must set a USER');
  if (!image.entrypoint || !image.healthcheck) throw new Error('the runtime stage has no ENTRYPOINT or HEALTHCHECK');
  const app = join(image.root, image.workdir);
  if (existsSync(join(app, 'src')) || existsSync(join(app, 'apps'))) throw new Error('the runtime stage holds sources');
  const devOnly = Object.keys(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).devDependencies ?? {});
  // A dev dependency that a runtime one needs too (protobufjs, under OpenTelemetry's exporter, depends on @types/node)
  // is installed by `npm ci --omit=dev` all the same: a leak is one that nothing the image runs needs.
  const leaked = devOnly.filter((d) => existsSync(join(app, 'node_modules', d)) && !neededAtRuntime(d));
  if (leaked.length > 0) throw new Error(`dev dependencies in the runtime stage: ${leaked.join(', ')}`);

  const compose = jsYaml.load(readFileSync(join(repo, 'deploy/compose.yaml'), 'utf8'));
  const redisPort = await freePort();
  const redisDir = join(work, 'redis');
  mkdirSync(redisDir);
  const redis = spawn(
    'redis-server',
    [join(repo, 'deploy/k8s/base/redis.conf'), '--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir],
    { stdio: 'ignore' },
  );
  children.push(redis);
  const apiPort = await freePort();
  const adminKey = join(work, 'admin_api_key');
  writeFileSync(adminKey, `sy_check_${Date.now()}_${Math.random().toString(36).slice(2)}\n`);
  const envOf = (service, extra) => {
    const env = Object.fromEntries(
      Object.entries(compose.services[service].environment).map(([k, v]) => [k, String(v).replace(/\$\{[^}]*\}/g, '')]),
    );
    return {
      PATH: process.env.PATH,
      HOME: work,
      ...image.env,
      ...env,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      ...extra,
    };
  };
  const run = (service, extra) => {
    const env = envOf(service, extra);
    const child = spawn(image.entrypoint[0], image.entrypoint.slice(1), {
      cwd: app,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = [];
    child.stdout.on('data', (c) => output.push(c));
    child.stderr.on('data', (c) => output.push(c));
    children.push(child);
    return { child, output, env };
  };
  const api = run('api', { PORT: String(apiPort), HOST: '127.0.0.1', ADMIN_API_KEY_FILE: adminKey });
  const worker = run('worker', { LOCAL_THREADS: '1', LOCAL_CONTEXT_SIZE: '1024' });
  const deadline = Date.now() + 180_000;
  for (;;) {
    for (const p of [api, worker]) {
      if (p.child.exitCode !== null)
        throw new Error(
          `${p === api ? 'api' : 'worker'} exited ${p.child.exitCode}:\n${Buffer.concat(p.output).toString().slice(-3000)}`,
        );
    }
    const ready = await fetch(`http://127.0.0.1:${apiPort}/ready`).then(
      (r) => r.json(),
      () => null,
    );
    if (ready?.status === 'ready') {
      const health = execFileSync(image.healthcheck[0], image.healthcheck.slice(1), { cwd: app, env: api.env });
      return { ready: true, pools: ready.pools.length, healthcheck: 'ok', healthOutput: health.length };
    }
    if (Date.now() > deadline)
      throw new Error(`no /ready within 180 s:\n${Buffer.concat(worker.output).toString().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
  });
}
