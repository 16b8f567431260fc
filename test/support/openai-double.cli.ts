import { parseArgs } from 'node:util';
import { startOpenAIDouble } from './openai-double.js';

/**
 * Runs the OpenAI-compatible double as its own process, for tests that span processes:
 *   node dist/test/support/openai-double.cli.js [--port 0] [--host 127.0.0.1] [--api-key KEY]
 * Prints one JSON line, {"url": "http://127.0.0.1:PORT/v1"}, once listening; SIGTERM or SIGINT
 * closes it. Other processes read and steer it over HTTP:
 *   GET /__double/requests, POST /__double/fault {n, fault}, POST /__double/latency {ms},
 *   POST /__double/keys {keys: [..] | null}, POST /__double/reset.
 * The key may also come from OPENAI_DOUBLE_API_KEY, so it need not appear in a process listing.
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`--port must be an integer from 0 to 65535, got "${values.port}"\n`);
  process.exit(2);
}

const double = await startOpenAIDouble({
  port,
  host: values.host,
  apiKey: values['api-key'] ?? process.env.OPENAI_DOUBLE_API_KEY,
});
process.stdout.write(`${JSON.stringify({ url: double.url })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    double.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
