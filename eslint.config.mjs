// Lint rules that guard correctness: a forgotten await on an activity is a bug, and workflow code may import
// activities only as types (their implementations do I/O and cannot run in the workflow sandbox).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.temporal/', 'coverage/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '**/providers/**', 'node:*', 'fs', 'path', 'child_process'],
              allowTypeImports: true,
              message: 'Workflow code runs in a deterministic sandbox: import activities as types only (`import type`), and no Node APIs or providers.',
            },
          ],
        },
      ],
    },
  },
  // The domain is the product's decisions: pure, deterministic, testable alone. It imports nothing outside
  // src/domain (the plan loader, the workflow, providers and views import it, never the other way round).
  ...[
    { files: ['src/domain/*.ts'], outside: ['../*', '../**'] },
    { files: ['src/domain/*/*.ts'], outside: ['../../*', '../../**'] },
  ].map(({ files, outside }) => ({
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...outside, '@temporalio/*', 'node:*', 'fs', 'path', 'child_process', 'os', 'crypto', 'http', 'https'],
              message: 'Domain code imports nothing outside src/domain: no plan loader, workflow, provider, Temporal or Node API.',
            },
          ],
        },
      ],
    },
  })),
);
