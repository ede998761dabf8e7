import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, consoleBase, portalBase, setupToken, strongPassword } from '../helpers/portal.js';
import { startStack, type TestStack } from '../helpers/stack.js';

const run = promisify(execFile);
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

async function roster(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, ['scripts/roster.mjs', ...args], {
    env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' },
  });
  return args.includes('--json') ? JSON.parse(stdout) : stdout;
}

describe('roster setup-link / operator', () => {
  it('setup-link create prints a one-time URL (token in the fragment) that sets a password and signs the admin in', async () => {
    const tenant = await stack.createTenant();
    const out = await roster('setup-link', 'create', '--tenant', tenant.slug, '--email', 'First.Admin@Example.com', '--json');
    expect(out.url).toMatch(new RegExp(`^${stack.url}/setup#token=[A-Za-z0-9_-]{43}$`));
    const expiresIn = Date.parse(out.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(71.9 * 3600_000);
    expect(expiresIn).toBeLessThanOrEqual(72 * 3600_000);
    const token = setupToken(out.url);
    // Stored hashed only.
    const hashes = await stack.owner.anyFirst(sql.type(z.object({ h: z.string() }))`SELECT encode(token_hash, 'hex') AS h FROM portal_setup_links`);
    expect(hashes.join()).not.toContain(token);
    expect(JSON.stringify(hashes)).not.toContain(Buffer.from(token).toString('hex'));

    const inspect = await apiFetch(portalBase(stack), 'POST', '/setup/inspect', { token });
    expect(inspect.body).toMatchObject({ email: 'First.Admin@Example.com', tenant: { slug: tenant.slug } });
    const password = strongPassword();
    const done = await apiFetch(portalBase(stack), 'POST', '/setup/complete', { token, password });
    expect(done.status).toBe(200);
    expect(done.body.user.roles).toEqual(['admin']);
    const signIn = await apiFetch(portalBase(stack), 'POST', '/sign-in', { tenant: tenant.slug, email: 'first.admin@example.com', password });
    expect(signIn.status).toBe(200);
    // The person is active now: another setup link for them is refused.
    await expect(roster('setup-link', 'create', '--tenant', tenant.slug, '--email', 'first.admin@example.com', '--json')).rejects.toThrow(/already an active member/);
  });

  it('--role chooses the roles; an unknown tenant or role fails', async () => {
    const tenant = await stack.createTenant();
    const out = await roster('setup-link', 'create', '--tenant', tenant.slug, '--email', 'rev@example.com', '--role', 'reviewer', 'auditor', '--json');
    const done = await apiFetch(portalBase(stack), 'POST', '/setup/complete', { token: setupToken(out.url), password: strongPassword() });
    expect(done.body.user.roles).toEqual(['auditor', 'reviewer']);
    await expect(roster('setup-link', 'create', '--tenant', 'no-such-tenant', '--email', 'x@example.com', '--json')).rejects.toThrow(/no tenant/);
    await expect(roster('setup-link', 'create', '--tenant', tenant.slug, '--email', 'y@example.com', '--role', 'root', '--json')).rejects.toThrow();
  });

  it('operator create prints a console setup URL; the operator signs in to the console only', async () => {
    const out = await roster('operator', 'create', '--email', 'ops@vendor.example', '--json');
    expect(out.url).toMatch(new RegExp(`^${stack.url}/console/setup#token=[A-Za-z0-9_-]{43}$`));
    const password = strongPassword();
    const done = await apiFetch(consoleBase(stack), 'POST', '/setup/complete', { token: setupToken(out.url), password });
    expect(done.status).toBe(200);
    expect(done.body.operator.email).toBe('ops@vendor.example');
    expect((await apiFetch(consoleBase(stack), 'POST', '/sign-in', { email: 'ops@vendor.example', password })).status).toBe(200);
    // A console setup token is not a portal setup token.
    expect((await apiFetch(portalBase(stack), 'POST', '/setup/inspect', { token: setupToken(out.url) })).status).toBe(404);
  });
});
