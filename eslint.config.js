// ESLint flat config: typed linting for TypeScript, plain rules for the few JavaScript files, and
// the import boundary that keeps workflow code deterministic (docs: style.md, "Shape of the house").
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Workflow code is bundled into Temporal's deterministic sandbox: no I/O, no Node built-ins. */
const workflowRestrictedImports = {
  paths: [
    ...['pg', 'slonik', '@temporalio/client', '@temporalio/worker', 'express', 'pino'],
    // Every bare built-in (fs, fs/promises, path, crypto, child_process, ...); `node:` ones below.
    ...builtinModules.filter((name) => !name.startsWith('node:')),
  ].map((name) => ({ name, message: 'workflows/ must stay deterministic: do I/O in an activity.' })),
  patterns: [
    { group: ['node:*'], message: 'workflows/ must not use Node built-ins: do I/O in an activity.' },
    {
      group: ['**/core/db', '**/core/db/**'],
      allowTypeImports: true,
      message: 'workflows/ may import only types from core/db; data access belongs in activities.',
    },
    {
      group: ['**/activities', '**/activities/**'],
      allowTypeImports: true,
      message: 'workflows/ may import only types from activities/ (for proxyActivities<typeof ...>).',
    },
  ],
};

/** core/ is the domain and data access shared by every surface: no web framework, no Temporal, no adapters. */
const coreRestrictedImports = {
  patterns: [
    { group: ['@temporalio/*'], allowTypeImports: true, message: 'core/ must not talk to Temporal: put it in activities/ (an adapter) or worker/.' },
    { group: ['express', 'express/*'], allowTypeImports: true, message: 'core/ must not depend on express: HTTP belongs in api/.' },
    { regex: '^(\\.\\./)+(activities|api|worker)(/|$)', allowTypeImports: true, message: 'imports flow into core/, never out of it.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'portal/dist/', 'coverage/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts', '**/*.cts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Values are parsed with zod at the edges; these fire on every library typed as `any`.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',
      '@typescript-eslint/no-unsafe-return': 'warn',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Async functions without await are how express handlers and test helpers keep one shape.
      '@typescript-eslint/require-await': 'off',
      // SCIM input validation matches control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests read JSON response bodies; typing every one of them would add noise, not safety.
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['workflows/**'],
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': ['error', workflowRestrictedImports] },
  },
  {
    files: ['core/**'],
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': ['error', coreRestrictedImports] },
  },
);
