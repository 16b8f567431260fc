import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const RULE_TESTS = resolve('deploy/observability/prometheus-alerts.test.yaml');

/**
 * The shipped alert rules against Prometheus's own rule engine: `promtool test rules` feeds each test's series (what
 * the API and the workers expose) to the rules and compares the alerts that fire, with their labels and text.
 * test/metrics.e2e-spec.ts checks that the rules name metrics that exist; this checks that they page when they
 * say they do. promtool comes with Debian's `prometheus` package (.ci/run installs it).
 */
describe('alert rules (promtool test rules)', () => {
  it('fire as deploy/observability/prometheus-alerts.test.yaml says, and only then', () => {
    const run = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8', timeout: 60_000 });
    if (run.error)
      throw new Error(
        `promtool could not run (${run.error.message}): apt-get install prometheus, or brew install prometheus`,
      );
    expect({ status: run.status, output: `${run.stdout}${run.stderr}` }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS'),
    });
  });
});
