import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: Node built-ins (fs,
// child_process, timers, crypto...) and the Docker client must never reach it.
const forbiddenInWorkflows = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'dockerode',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.dockflow/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.map((name) => ({ name, message: 'workflows/ must stay deterministic: no Node built-ins or Docker client.' })),
        patterns: [{ group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'import activities with `import type` only.' }],
      }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
);
