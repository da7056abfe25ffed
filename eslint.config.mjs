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

// One way to connect a Temporal client (src/client/connect.ts): the namespace and the data converter
// (the payload codec) are set in one place, so no command talks to Temporal without them.
const oneClientConnect = {
  selector: "CallExpression[callee.object.name='Connection'][callee.property.name='connect']",
  message: 'connect through connectClient (src/client/connect.ts): one client connect, with the namespace and the data converter.',
};

export default tseslint.config(
  // test/seeds/<stack>/ holds a user's files (their own app code), not dockflow's.
  { ignores: ['node_modules/**', 'dist/**', '.dockflow/**', 'bin/**', 'test/seeds/*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The layers, bottom up (README "Layout"; each folder's README.md says the same):
  //   src/model            schemas and plain types            imports nothing of dockflow
  //   src/plan             pure decisions (plan, hash, order)  src/model
  //   workflows            deterministic orchestration         src/model, src/plan, the pure parts of src/backup and src/temporal; activities as types only
  //   activities, src/*    Node-side work                      anything below; workflows as types only
  //                        (src/engine: Docker reads shared by activities and the CLI)
  //   src/cli, workers     entry points                        anything but activities for src/cli (a client only); nothing imports them
  {
    files: ['src/model/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.map((name) => ({ name, message: 'src/model is plain schemas and types: no Node built-ins or Docker client.' })),
        patterns: [{ group: ['../*', '!../model', '../../*'], message: 'src/model is the bottom layer: it imports only src/model (and zod).' }],
      }],
    },
  },
  {
    files: ['src/plan/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.map((name) => ({ name, message: 'src/plan is pure (workflows run it): no Node built-ins or Docker client.' })),
        patterns: [{ group: ['../*', '!../model', '!../errors', '../../*'], message: 'src/plan decides from src/model alone.' }],
      }],
    },
  },
  {
    files: ['activities/**/*.ts', 'src/**/*.ts'],
    ignores: ['src/model/**', 'src/plan/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/workflows/*', '**/workflows'], allowTypeImports: true, message: 'workflow code is imported as types only outside workflows/.' },
          { group: ['**/cli/*', '**/workers/*', '**/workers'], message: 'the CLI and the worker are entry points: nothing imports them.' },
        ],
      }],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/workflows/*', '**/workflows'], allowTypeImports: true, message: 'the CLI is a Temporal client: workflow code as types only.' },
          { group: ['**/activities/*', '**/activities', '**/activities/**'], message: 'the CLI is a Temporal client: it starts workflows, it does not run activities (Docker reads it shares with them live in src/engine).' },
        ],
      }],
      // The same for import(), which the CLI uses to load a command's modules lazily.
      'no-restricted-syntax': ['error', {
        selector: 'ImportExpression[source.value=/(^|\\/)activities(\\/|$)/]',
        message: 'the CLI is a Temporal client: it starts workflows, it does not run activities (Docker reads it shares with them live in src/engine).',
      }, oneClientConnect],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/client/connect.ts'],
    rules: { 'no-restricted-syntax': ['error', oneClientConnect] },
  },
  {
    // Plain CommonJS run by node before anything is compiled (scripts/build.js at npm install).
    files: ['scripts/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', console: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Preloaded with node -r into the CLI process bench/cli-timeline.ts times.
    files: ['bench/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', process: 'readonly', performance: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.map((name) => ({ name, message: 'workflows/ must stay deterministic: no Node built-ins or Docker client.' })),
        patterns: [
          { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'import activities with `import type` only.' },
          {
            group: [
              '../src/compose', '../src/compose/*', '../src/cli/*', '../src/client/*', '../src/docker/*', '../src/engine/*', '../src/files/*', '../src/policy/*', '../workers/*',
              '../src/backup/destination', '../src/backup/open-destination', '../src/backup/s3-destination', '../src/backup/parallel-gzip', '../src/backup/tar-digest', '../src/backup/restore-stream', '../src/backup/client',
              '../src/notify/targets', '../src/notify/message',
              '../src/temporal/*', '!../src/temporal/search-attributes',
            ],
            allowTypeImports: true,
            message: 'Node-side module: workflows/ may import only workflow-safe code (src/model, src/plan, the pure parts of src/backup).',
          },
        ],
      }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // One patch marker per run (workflows/patches.ts): every patch decision goes through isPatched.
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/patches.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "ImportDeclaration[source.value='@temporalio/workflow'] ImportSpecifier[imported.name=/^(patched|deprecatePatch)$/]",
        message: 'ask for a patch through isPatched (workflows/patches.ts): a run records one marker for the patches it covers.',
      }],
    },
  },
);
