/**
 * `npm run keys -- <command>`: API keys straight in Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS; SWITCHYARD_PREFIX), with no API
 * running — how the first admin key is made, and how a locked-out operator gets back in.
 *
 *   create --name ci --scopes submit,read [--tenant acme] [--expires 2027-01-01T00:00:00Z]
 *          [--requests-per-minute 600] [--tokens-per-minute 100000]
 *   list
 *   revoke <id>
 *
 * Answers one JSON object on stdout. `create` prints the secret that one time; it is never stored.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '#libs/config';
import { ApiKeyStore, checkNewKey } from '#libs/access';
import { closeRedis, connectRedis, openRedis } from '#libs/redis';

const USAGE =
  'usage: npm run keys -- create --name <name> --scopes submit,read,metrics,admin [--tenant <t>] [--expires <ISO-8601>] [--requests-per-minute <n>] [--tokens-per-minute <n>] | list | revoke <id>';

class UsageError extends Error {}

async function main(argv: string[]): Promise<unknown> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      tenant: { type: 'string' },
      expires: { type: 'string' },
      'requests-per-minute': { type: 'string' },
      'tokens-per-minute': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  const config = loadConfig();
  if (config.redis.topology.kind === 'none')
    throw new UsageError(
      'REDIS_URL (or REDIS_CLUSTER_NODES, REDIS_SENTINELS) is unset: point it at the Redis the API uses (npm start: redis://127.0.0.1:6390)',
    );
  const redis = openRedis(config.redis.topology, { maxRetriesPerRequest: 3, lazyConnect: true });
  await connectRedis(redis, config.redis.topology);
  try {
    // The cast goes once the stores take either client (the Cluster keyspace work, issue 14 §4).
    const store = new ApiKeyStore(redis, config.prefix);
    switch (command) {
      case 'create': {
        const limit = (flag: 'requests-per-minute' | 'tokens-per-minute') =>
          values[flag] === undefined ? undefined : Number(values[flag]);
        const limits = { requestsPerMinute: limit('requests-per-minute'), tokensPerMinute: limit('tokens-per-minute') };
        const check = checkNewKey(
          {
            name: values.name,
            scopes: values.scopes
              ?.split(',')
              .map((s) => s.trim())
              .filter(Boolean),
            tenant: values.tenant,
            expiresAt: values.expires,
            limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
          },
          Date.now(),
        );
        if (!check.ok) throw new UsageError(check.errors.map((e) => `--${flagOf(e.field)} ${e.message}`).join('; '));
        const { key, secret } = await store.create(check.key);
        process.stderr.write('Store the secret now: only its hash is kept, it cannot be shown again.\n');
        return { ...key, secret };
      }
      case 'list':
        return { keys: await store.list() };
      case 'revoke': {
        if (rest.length !== 1) throw new UsageError(USAGE);
        const key = await store.revoke(rest[0]);
        if (!key) throw new UsageError(`API key ${rest[0]} not found`);
        return key;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    await closeRedis(redis);
  }
}

function flagOf(field: string): string {
  return (
    {
      expiresAt: 'expires',
      'limits.requestsPerMinute': 'requests-per-minute',
      'limits.tokensPerMinute': 'tokens-per-minute',
    }[field] ?? field
  );
}

try {
  process.stdout.write(`${JSON.stringify(await main(process.argv.slice(2)), null, 2)}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
