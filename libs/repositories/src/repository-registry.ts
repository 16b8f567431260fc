import { globalKeyPrefix, type RedisClient } from '#libs/redis';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, sep } from 'node:path';
import { promisify } from 'node:util';
import { RepoSourceError } from '#libs/jobs';

const run = promisify(execFile);

/** A repository an admin registered: batches of `tenant` (every tenant when null) may read and branch it. */
export interface RegisteredRepository {
  id: string;
  /** The repository's root, as its real path (symbolic links resolved) when registered. */
  root: string;
  tenant: string | null;
  createdAt: string;
}

/** A registration refused: the field and why, answered as a 400. */
export class RepositoryRegistrationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RepositoryRegistrationError';
  }
}

/** Where a code migration may read and write: the intake and schedules ask it before touching a repository. */
export interface RepositoryGate {
  /**
   * The repository `repo` names, as its real path, when it is registered for `tenant`; otherwise a
   * RepoSourceError naming `source.repo`, the same for a path that does not exist as for one not
   * registered (so the answer does not tell what exists on the server).
   */
  authorize(repo: string, tenant: string | null): Promise<string>;
}

/**
 * The admin-managed allowlist of repository roots (issue 13 §5), in Redis so every API replica and worker
 * shares it. Without it `source.repo` read any path the process could: the server's own checkout, `"."`.
 * A batch may name a registered root or a directory inside one; the path is resolved (symbolic links and
 * "..") first, and git's own top level must lie inside the root too, so neither a link nor a parent
 * repository found by git's upward search reaches outside it.
 */
export class RepositoryRegistry implements RepositoryGate {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async register(input: { root: unknown; tenant?: unknown }, now = Date.now()): Promise<RegisteredRepository> {
    if (typeof input.root !== 'string' || !isAbsolute(input.root)) {
      throw new RepositoryRegistrationError('root', 'must be the absolute path of a git repository on the server');
    }
    const tenantGiven = input.tenant !== undefined && input.tenant !== null;
    if (tenantGiven && (typeof input.tenant !== 'string' || input.tenant === '')) {
      throw new RepositoryRegistrationError('tenant', 'must be a tenant name, or absent (null) for every tenant');
    }
    const root = await realDirectory(input.root);
    if (root === null || (await gitTopLevel(root)) !== root) {
      throw new RepositoryRegistrationError('root', `is not the root of a git repository on the server: ${input.root}`);
    }
    const tenant = (input.tenant as string | undefined) ?? null;
    const existing = (await this.list()).find((r) => r.root === root && r.tenant === tenant);
    if (existing) return existing;
    const id = `repo_${randomBytes(6).toString('hex')}`;
    const record: RegisteredRepository = { id, root, tenant, createdAt: new Date(now).toISOString() };
    await this.redis.hset(this.key(), record.id, JSON.stringify(record));
    return record;
  }

  async list(): Promise<RegisteredRepository[]> {
    const rows = Object.values(await this.redis.hgetall(this.key())).map((r) => JSON.parse(r) as RegisteredRepository);
    return rows.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Removes a registration; batches already accepted keep their files, new ones are refused. */
  async remove(id: string): Promise<RegisteredRepository | null> {
    const raw = await this.redis.hget(this.key(), id);
    if (!raw) return null;
    await this.redis.hdel(this.key(), id);
    return JSON.parse(raw) as RegisteredRepository;
  }

  async authorize(repo: string, tenant: string | null): Promise<string> {
    const refused = new RepoSourceError(
      'source.repo',
      'is not a repository registered for this tenant: an admin registers it with POST /v1/repositories',
    );
    const real = isAbsolute(repo) ? await realDirectory(repo) : null;
    if (real === null) throw refused;
    const roots = (await this.list()).filter((r) => r.tenant === null || r.tenant === tenant).map((r) => r.root);
    const root = roots.find((r) => inside(real, r));
    if (!root) throw refused;
    const top = await gitTopLevel(real);
    if (top === null || !inside(top, root)) throw refused;
    return real;
  }

  private key(): string {
    return `${globalKeyPrefix(this.prefix)}:repositories`;
  }
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function realDirectory(path: string): Promise<string | null> {
  try {
    const real = await realpath(path);
    return (await stat(real)).isDirectory() ? real : null;
  } catch {
    return null;
  }
}

/** The real path of the work tree's top level (or of a bare repository's directory); null outside git. */
async function gitTopLevel(dir: string): Promise<string | null> {
  const git = async (...args: string[]) => (await run('git', ['-C', dir, ...args])).stdout.trim();
  try {
    const bare = (await git('rev-parse', '--is-bare-repository')) === 'true';
    return realDirectory(await git('rev-parse', bare ? '--absolute-git-dir' : '--show-toplevel'));
  } catch {
    return null;
  }
}
