import { describe, expect, it } from '@jest/globals';
import type { CodeMigrationTask } from '#libs/domain';
import { codeMigrationPrompt } from '../code-migration-prompt.js';
import { migrationExpectations, migrationInstruction, migrationTitle, presetInstruction } from './migration-presets.js';

describe('migration presets', () => {
  it('commonjs-to-esm spells out each rewrite: require, module.exports, exports.x, __dirname, extensions', () => {
    const text = presetInstruction('commonjs-to-esm');
    expect(text).toMatch(/^Convert this file from CommonJS to ES modules\./);
    for (const rule of [
      '`const x = require("m")` becomes `import x from "m"`',
      '`export default value`',
      '`exports.name = value`',
      '`import.meta.url`',
      '`./util.js`',
    ]) {
      expect(text).toContain(rule);
    }
  });

  it('js-to-ts asks for types without `any` and tells the model the path stays', () => {
    const text = presetInstruction('js-to-ts');
    expect(text).toMatch(/^Convert this JavaScript file to TypeScript\./);
    expect(text).toContain('Use `unknown`, not `any`');
    expect(text).toContain('The file keeps its path');
  });

  it('rename-api names both identifiers in every rule', () => {
    const text = presetInstruction('rename-api', { from: 'fetchUser', to: 'loadUser' });
    expect(text).toMatch(/^Rename the API `fetchUser` to `loadUser`\./);
    expect(text).toContain('Every identifier named `fetchUser` becomes `loadUser`');
    expect(text).toContain('An import of `fetchUser` from another module imports `loadUser` instead');
  });

  it('a free-form instruction is used as it is, or follows a preset as extra guidance', () => {
    expect(migrationInstruction({ instruction: 'Use let instead of var' })).toBe('Use let instead of var');
    expect(migrationInstruction({ preset: 'js-to-ts' })).toBe(presetInstruction('js-to-ts'));
    expect(migrationInstruction({ preset: 'js-to-ts', instruction: 'Prefer interfaces' })).toBe(
      `${presetInstruction('js-to-ts')}\n\nAdditional guidance: Prefer interfaces`,
    );
  });

  it('the prompt carries the expanded instruction', () => {
    const task: CodeMigrationTask = { preset: 'rename-api', params: { from: 'fetchUser', to: 'loadUser' } };
    const prompt = codeMigrationPrompt(task, 'src/a.js', 'fetchUser();\n', 256);
    expect(prompt.prompt).toBe(
      `Instruction: ${presetInstruction('rename-api', task.params)}\n\nFile: src/a.js\n\`\`\`\nfetchUser();\n\n\`\`\``,
    );
  });

  it('holds js-to-ts answers to TypeScript and rename-api answers to the old name being gone; nothing more otherwise', () => {
    expect(migrationExpectations({ preset: 'js-to-ts' })).toEqual({ typescript: true });
    expect(migrationExpectations({ preset: 'rename-api', params: { from: 'a', to: 'b' } })).toEqual({
      absentIdentifier: 'a',
    });
    expect(migrationExpectations({ preset: 'commonjs-to-esm' })).toEqual({});
    expect(migrationExpectations({ instruction: 'x' })).toEqual({});
  });

  it('titles a migration by its preset, else by the first line of its instruction', () => {
    expect(migrationTitle({ preset: 'commonjs-to-esm', instruction: 'and more' })).toBe('CommonJS to ES modules');
    expect(migrationTitle({ preset: 'rename-api', params: { from: 'a', to: 'b' } })).toBe('Rename a to b');
    expect(migrationTitle({ instruction: 'To ESM\nin detail' })).toBe('To ESM');
  });
});
