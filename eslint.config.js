// Type-aware lint (issue 18 §2): the rules that catch what reviews miss — a floating promise once crashed workers
// (the chaos run found it). Formatting is Prettier's job (.prettierrc.json), so no stylistic rules here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'deploy/**/*.mjs', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A lib is entered through its face (index.ts); within a lib, files import each other relatively.
      // Cycles between libs are checked by test/architecture.spec.ts over the whole graph.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^#libs/[^/]+/', message: "Import the lib's face, '#libs/<lib>', not a file inside it." },
          ],
        },
      ],
    },
  },
  {
    // Test doubles implement async interfaces without awaiting, and read answers of any shape.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
