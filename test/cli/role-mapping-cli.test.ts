import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portalClient } from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

// `roster role-mapping` and `roster default-role` (scripts/cli/commands/role-mapping.ts) go through
// the entitlements service: a dry run's fingerprint makes the apply conditional on its effect.
const run = promisify(execFile);
let stack: TestStack;
let t: TestTenant;
let ann = '';
let ops = '';
beforeAll(async () => {
  stack = await startStack();
  t = await stack.createTenant();
  ann = (await stack.scim(t, 'POST', '/Users', { userName: 'ann@example.com' })).body.id;
  ops = (await stack.scim(t, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ann }] })).body.id;
  // A group whose name merely starts like the one asked for must not be picked.
  await stack.scim(t, 'POST', '/Groups', { displayName: 'Ops-Archive' });
});
afterAll(async () => stack?.close());

async function roster(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, ['scripts/roster.mjs', ...args], {
    env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' },
  });
  return args.includes('--json') ? JSON.parse(stdout) : stdout;
}

describe('roster role-mapping', () => {
  it('dry run names people and a fingerprint; applying with a stale fingerprint fails and changes nothing; a fresh one applies', async () => {
    const dry = await roster('role-mapping', 'set', '--tenant', t.slug, '--group', 'OPS', '--roles', 'member', '--dry-run', '--json');
    expect(dry).toMatchObject({ applied: false, affectedUsers: 1, changes: [{ userId: ann, userName: 'ann@example.com', gains: ['member'], losses: [] }] });
    const bob = (await stack.scim(t, 'POST', '/Users', { userName: 'bob@example.com' })).body.id;
    await stack.scim(t, 'PATCH', `/Groups/${ops}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: bob }] }] });
    await expect(roster('role-mapping', 'set', '--tenant', t.slug, '--group', 'Ops', '--roles', 'member', '--fingerprint', dry.fingerprint, '--approve-as-operator', '--json')).rejects.toThrow(/preview/);
    expect(await roster('role-mapping', 'list', '--tenant', t.slug, '--json')).toEqual([]);
    const fresh = await roster('role-mapping', 'set', '--tenant', t.slug, '--group', 'Ops', '--roles', 'member', '--dry-run', '--json');
    expect(fresh.affectedUsers).toBe(2);
    const applied = await roster('role-mapping', 'set', '--tenant', t.slug, '--group', 'Ops', '--roles', 'member', '--fingerprint', fresh.fingerprint, '--approve-as-operator', '--json');
    expect(applied).toEqual({ ...fresh, applied: true });
    expect(await roster('role-mapping', 'list', '--tenant', t.slug, '--json')).toEqual([{ group_id: ops, display_name: 'Ops', roles: ['member'] }]);
    const human = await roster('default-role', '--tenant', t.slug, '--role', 'viewer', '--dry-run');
    expect(human).toMatch(/^dry run: 2 users affected\n {2}ann@example\.com \+\[viewer\] -\[\]\n {2}bob@example\.com \+\[viewer\] -\[\]/);
  });

  it('a tenant with a portal user: set and default-role wait for its approvers; --approve-as-operator is refused', async () => {
    const people = await stack.createTenant();
    await portalClient(stack, people, { roles: ['admin'] });
    const cy = (await stack.scim(people, 'POST', '/Users', { userName: 'cy@example.com' })).body.id;
    await stack.scim(people, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: cy }] });
    const waiting = await roster('role-mapping', 'set', '--tenant', people.slug, '--group', 'Ops', '--roles', 'member', '--json');
    expect(waiting).toMatchObject({ requestId: expect.any(String), state: 'pending', follow: `roster approval show ${waiting.requestId} --tenant ${people.slug}` });
    expect(await roster('role-mapping', 'list', '--tenant', people.slug, '--json')).toEqual([]);
    await expect(roster('role-mapping', 'set', '--tenant', people.slug, '--group', 'Ops', '--roles', 'member', '--approve-as-operator', '--json')).rejects.toThrow(/portal users/);
    const def = await roster('default-role', '--tenant', people.slug, '--role', 'viewer', '--json');
    expect(def).toMatchObject({ requestId: expect.any(String), state: 'pending' });
    await expect(roster('default-role', '--tenant', people.slug, '--role', 'viewer', '--approve-as-operator', '--json')).rejects.toThrow(/portal users/);
    const shown = await roster('approval', 'show', def.requestId, '--tenant', people.slug, '--json');
    expect(shown).toMatchObject({ kind: 'default_role.set', state: 'pending' });
  });
});
