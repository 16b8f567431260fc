// Jest runs the TypeScript sources as native ESM (NODE_OPTIONS=--experimental-vm-modules),
// transpiled by SWC with legacy decorators + metadata so Nest's DI works as in the build.
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

const base = {
  rootDir: '.',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^#libs/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};

const code = ['libs', 'apps', 'bench'];
// test/*.spec.ts: plain checks of the tree itself (architecture diagram), no Redis.
const unitOnly = ['<rootDir>/test/**/*.spec.ts'];

/**
 * Two projects, so each runs alone (`jest --selectProjects unit|e2e`) and a path given to plain `jest` finds its own:
 * - unit (`*.spec.ts`): plain logic, in-process fakes and loopback servers. No Redis, no child process, no model
 *   loaded; no global setup, so it runs before (and without) a build.
 * - e2e: specs on real parts, `*.int-spec.ts` beside the code (Redis, git, node-llama-cpp) and `test/*.e2e-spec.ts`
 *   (the built apps from dist/). The global setup starts the private Redis they share, each on its own prefix; jest
 *   runs it only when a test of this project is selected.
 */
export default {
  // Global options: jest reads these here, not per project.
  testTimeout: 120000,
  detectOpenHandles: false,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: [...code.map((dir) => `<rootDir>/${dir}/**/*.spec.ts`), ...unitOnly],
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: [...code.map((dir) => `<rootDir>/${dir}/**/*.int-spec.ts`), '<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
  ],
};
