import type { CodeMigrationTask, MigrationPreset, RenameApiParams } from '#libs/domain';

/** A JavaScript identifier, as rename-api's `from` and `to` must be (no dotted paths: rename the last name). */
export const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * What each preset asks of the model, spelled out: a cheap local model follows a precise list of
 * rewrites far better than a name such as "to ESM". Each text says what to change and what to keep.
 */
export function presetInstruction(preset: MigrationPreset, params?: RenameApiParams): string {
  switch (preset) {
    case 'commonjs-to-esm':
      return [
        'Convert this file from CommonJS to ES modules.',
        '- Replace each `require()` with an `import` declaration at the top of the file: `const x = require("m")` becomes `import x from "m"`, `const { a, b } = require("m")` becomes `import { a, b } from "m"`.',
        '- Replace `module.exports = value` with `export default value`, and `exports.name = value` or `module.exports.name = value` with a named `export`.',
        '- Replace `__dirname` and `__filename` with values derived from `import.meta.url` (`fileURLToPath` from "node:url", `dirname` from "node:path").',
        '- Write relative import specifiers with their file extension (`./util.js`), as ES modules require.',
        '- Remove a "use strict" directive: modules are strict. Keep everything else, names and behaviour included, as it is.',
      ].join('\n');
    case 'js-to-ts':
      return [
        'Convert this JavaScript file to TypeScript.',
        '- Add type annotations to function parameters, to exported declarations, and to return types that are not obvious.',
        '- Declare an interface or type alias for an object shape used in more than one place.',
        '- Turn JSDoc type tags (@param {T}, @returns {T}, @type {T}) into TypeScript types and remove the tags that became redundant.',
        '- Use `unknown`, not `any`, where a type cannot be known.',
        '- Keep the module form (import/export or require), names and behaviour as they are.',
        '- The file keeps its path: answer with its TypeScript content (TSX where it holds JSX).',
      ].join('\n');
    case 'rename-api': {
      const { from, to } = params!;
      return [
        `Rename the API \`${from}\` to \`${to}\`.`,
        `- Every identifier named \`${from}\` becomes \`${to}\`: declarations, calls, imports and exports, property accesses and method calls, object keys, destructuring and shorthand properties, JSX tags.`,
        `- An import of \`${from}\` from another module imports \`${to}\` instead.`,
        '- Leave strings and comments as they are, and change nothing else.',
      ].join('\n');
    }
  }
}

/** The instruction a migration's prompt carries: the preset's text, the user's instruction, or the first followed by the second as extra guidance. */
export function migrationInstruction(task: CodeMigrationTask): string {
  if (!task.preset) return task.instruction ?? '';
  const preset = presetInstruction(task.preset, task.params);
  return task.instruction ? `${preset}\n\nAdditional guidance: ${task.instruction}` : preset;
}

/** What a migrated file is held to beyond parsing, by the task's preset. */
export interface MigrationExpectations {
  /** js-to-ts: the answer is parsed as TypeScript (TSX for .jsx) though its path stays .js. */
  typescript?: boolean;
  /** rename-api: this identifier must no longer appear in the answer's code (strings and comments aside). */
  absentIdentifier?: string;
}

export function migrationExpectations(task: CodeMigrationTask): MigrationExpectations {
  switch (task.preset) {
    case 'js-to-ts':
      return { typescript: true };
    case 'rename-api':
      return task.params ? { absentIdentifier: task.params.from } : {};
    default:
      return {};
  }
}

const PRESET_TITLES: Record<MigrationPreset, (params?: RenameApiParams) => string> = {
  'commonjs-to-esm': () => 'CommonJS to ES modules',
  'js-to-ts': () => 'JavaScript to TypeScript',
  'rename-api': (params) => `Rename ${params?.from} to ${params?.to}`,
};

/** One line naming the migration, e.g. for a commit subject: the preset's title, else the instruction's first line. */
export function migrationTitle(task: CodeMigrationTask): string {
  if (task.preset) return PRESET_TITLES[task.preset](task.params);
  return (task.instruction ?? '').split('\n', 1)[0].trim() || 'code migration';
}
