import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portalClient } from '../helpers/portal.js';
import { scimFetch, startStack, type TestStack } from '../helpers/stack.js';

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

const createUser = (baseUrl: string, token: string, userName: string) => scimFetch(`${baseUrl}/Users`, token, 'POST', { userName });

describe('roster CLI', () => {
  it('tenant create prints a working SCIM base URL and token, shown once and stored hashed', async () => {
    const out = await roster('tenant', 'create', 'acme-cli', '--json');
    expect(out).toMatchObject({ tenantId: expect.any(String), scimBaseUrl: `${stack.url}/scim/v2` });
    expect(out.scimToken).toMatch(/^roster_scim_[A-Za-z0-9_-]{43}$/);
    expect((await createUser(out.scimBaseUrl, out.scimToken, 'cli-user@example.com')).status).toBe(201);
    const stored = await stack.owner.query((await import('slonik')).sql.unsafe`SELECT token_prefix, encode(token_hash, 'hex') AS h FROM scim_tokens`);
    for (const row of stored.rows) {
      expect(JSON.stringify(row)).not.toContain(out.scimToken);
      expect(String(row.token_prefix).length).toBeLessThan(20);
    }
    await expect(roster('tenant', 'create', 'acme-cli', '--json')).rejects.toThrow(/already exists/);
  });

  it('rotation keeps the old token for the overlap only; revocation is effective on the next request', async () => {
    const t = await roster('tenant', 'create', 'rotate-me', '--json');
    // A tenant without portal users: the operator approves the change request (audited as such).
    const rotated = await roster('scim-token', 'rotate', '--tenant', 'rotate-me', '--overlap', '3', '--approve-as-operator', '--json');
    expect(rotated.scimToken).not.toBe(t.scimToken);
    expect((await createUser(t.scimBaseUrl, t.scimToken, 'old-token-still-ok@example.com')).status).toBe(201);
    expect((await createUser(t.scimBaseUrl, rotated.scimToken, 'new-token-ok@example.com')).status).toBe(201);
    await new Promise((r) => setTimeout(r, 3500));
    const expired = await createUser(t.scimBaseUrl, t.scimToken, 'too-late@example.com');
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    expect((await createUser(t.scimBaseUrl, rotated.scimToken, 'still-new@example.com')).status).toBe(201);

    await roster('scim-token', 'revoke', '--tenant', 'rotate-me', '--token', rotated.tokenId, '--json');
    expect((await createUser(t.scimBaseUrl, rotated.scimToken, 'after-revoke@example.com')).status).toBe(401);
  });

  it('scim-token create adds a second connection; revoking a connection kills its tokens only', async () => {
    const t = await roster('tenant', 'create', 'two-conns', '--json');
    const second = await roster('scim-token', 'create', '--tenant', 'two-conns', '--name', 'okta', '--approve-as-operator', '--json');
    expect((await createUser(t.scimBaseUrl, second.scimToken, 'via-second@example.com')).status).toBe(201);
    await roster('scim-token', 'revoke', '--tenant', 'two-conns', '--connection', second.connectionId, '--approve-as-operator', '--json');
    expect((await createUser(t.scimBaseUrl, second.scimToken, 'x@example.com')).status).toBe(401);
    expect((await createUser(t.scimBaseUrl, t.scimToken, 'first-still-works@example.com')).status).toBe(201);
    const list = await roster('scim-token', 'list', '--tenant', 'two-conns', '--json');
    expect(list).toHaveLength(2);
    expect(list.find((c: { id: string }) => c.id === second.connectionId).revoked_at).not.toBeNull();
    expect(JSON.stringify(list)).not.toContain(t.scimToken);
  });

  it('a tenant with portal users: a CLI rotation waits for its approvers; --approve-as-operator is refused; approval list/show read it', async () => {
    const t = await roster('tenant', 'create', 'has-people', '--json');
    await portalClient(stack, { id: t.tenantId, slug: 'has-people' }, { roles: ['admin'] });
    const waiting = await roster('scim-token', 'rotate', '--tenant', 'has-people', '--json');
    expect(waiting).toMatchObject({ requestId: expect.any(String), state: 'pending', approvalsNeeded: 1 });
    expect((await createUser(t.scimBaseUrl, t.scimToken, 'unchanged@example.com')).status).toBe(201);
    await expect(roster('scim-token', 'rotate', '--tenant', 'has-people', '--approve-as-operator', '--json')).rejects.toThrow(/portal users/);
    const list = await roster('approval', 'list', '--tenant', 'has-people', '--json');
    expect(list.map((r: { id: string }) => r.id)).toEqual([waiting.requestId]);
    const shown = await roster('approval', 'show', waiting.requestId, '--tenant', 'has-people', '--json');
    expect(shown).toMatchObject({ kind: 'scim_connection.rotate', state: 'pending', requestedBy: { type: 'operator' } });
    const audited = await stack.owner.anyFirst((await import('slonik')).sql.unsafe`SELECT action FROM audit_events WHERE action = 'approval.operator_approved'`);
    expect(audited.length).toBeGreaterThanOrEqual(3);
  });

  it('audit-verify seals and verifies the tenant chain', async () => {
    const out = await roster('audit-verify', '--tenant', 'two-conns', '--json');
    expect(out.intact).toBe(true);
    expect(out.sealed).toBeGreaterThanOrEqual(2);
  });

  it('role-mapping set (dry run, then applied), default-role, and guard release act on the tenant', async () => {
    const t = await roster('tenant', 'create', 'entitled', '--json');
    const user = await createUser(t.scimBaseUrl, t.scimToken, 'ent-user@example.com');
    const group = await scimFetch(`${t.scimBaseUrl}/Groups`, t.scimToken, 'POST', { displayName: 'Ops', members: [{ value: user.body.id }] });
    expect(group.status).toBe(201);
    const dry = await roster('role-mapping', 'set', '--tenant', 'entitled', '--group', 'ops', '--roles', 'admin', '--dry-run', '--json');
    expect(dry).toMatchObject({ applied: false, affectedUsers: 1, changes: [{ userId: user.body.id, gains: ['admin'], losses: [] }] });
    expect(await roster('role-mapping', 'list', '--tenant', 'entitled', '--json')).toEqual([]);
    const applied = await roster('role-mapping', 'set', '--tenant', 'entitled', '--group', 'Ops', '--roles', 'admin', '--approve-as-operator', '--json');
    expect(applied.applied).toBe(true);
    expect(await roster('role-mapping', 'list', '--tenant', 'entitled', '--json')).toEqual([{ group_id: group.body.id, display_name: 'Ops', roles: ['admin'] }]);
    await expect(roster('role-mapping', 'set', '--tenant', 'entitled', '--group', 'Ops', '--roles', 'root', '--approve-as-operator', '--json')).rejects.toThrow(/catalogue/);
    const def = await roster('default-role', '--tenant', 'entitled', '--role', 'viewer', '--approve-as-operator', '--json');
    expect(def).toMatchObject({ applied: true, affectedUsers: 1 });
    // Nothing is held, so a release releases nothing (and says so).
    expect(await roster('guard', 'release', '--tenant', 'entitled', '--approve-as-operator', '--json')).toEqual({ released: [] });
  });

  it('webhook add/rotate/delete: applied by the operator for a tenant without portal users; a tenant with one waits, and the operator is refused', async () => {
    const t = await roster('tenant', 'create', 'hooked', '--json');
    const added = await roster('webhook', 'add', '--tenant', 'hooked', '--url', 'http://127.0.0.1:9/hook', '--approve-as-operator', '--json');
    expect(added).toMatchObject({ tenantId: t.tenantId, id: expect.any(String), secret: expect.any(String) });
    const rotated = await roster('webhook', 'rotate', '--tenant', 'hooked', '--id', added.id, '--overlap', '0', '--approve-as-operator', '--json');
    expect(rotated.secret).not.toBe(added.secret);
    expect(await roster('webhook', 'delete', '--tenant', 'hooked', '--id', added.id, '--approve-as-operator', '--json')).toEqual({ deleted: added.id });
    expect(await roster('webhook', 'list', '--tenant', 'hooked', '--json')).toEqual([]);

    const p = await roster('tenant', 'create', 'hooked-people', '--json');
    await portalClient(stack, { id: p.tenantId, slug: 'hooked-people' }, { roles: ['admin'] });
    const waiting = await roster('webhook', 'add', '--tenant', 'hooked-people', '--url', 'http://127.0.0.1:9/hook', '--json');
    expect(waiting).toMatchObject({ requestId: expect.any(String), state: 'pending', follow: `roster approval show ${waiting.requestId} --tenant hooked-people` });
    expect(await roster('webhook', 'list', '--tenant', 'hooked-people', '--json')).toEqual([]);
    await expect(roster('webhook', 'add', '--tenant', 'hooked-people', '--url', 'http://127.0.0.1:9/hook', '--approve-as-operator', '--json')).rejects.toThrow(/portal users/);
    // The SSRF check runs before submitting: a private address never becomes a request.
    await expect(roster('webhook', 'add', '--tenant', 'hooked-people', '--url', 'https://10.0.0.1/hook', '--json')).rejects.toMatchObject({ code: 2 });
    expect((await roster('approval', 'list', '--tenant', 'hooked-people', '--json')).map((r: { id: string }) => r.id)).toEqual([waiting.requestId]);
  });

  it('guard release: a tenant with a portal user gets a waiting request; --approve-as-operator is refused', async () => {
    const p = await roster('tenant', 'create', 'guard-people', '--json');
    await portalClient(stack, { id: p.tenantId, slug: 'guard-people' }, { roles: ['admin'] });
    const waiting = await roster('guard', 'release', '--tenant', 'guard-people', '--json');
    expect(waiting).toMatchObject({ requestId: expect.any(String), state: 'pending' });
    const human = await roster('guard', 'release', '--tenant', 'guard-people');
    expect(human).toMatch(/waits for approval[\s\S]*roster approval show \S+ --tenant guard-people/);
    await expect(roster('guard', 'release', '--tenant', 'guard-people', '--approve-as-operator', '--json')).rejects.toThrow(/portal users/);
  });

  it('guard set and tenant set-grace change the settings through the service, each with an audit row naming the operator', async () => {
    const t = await roster('tenant', 'create', 'guarded', '--json');
    expect(await roster('guard', 'set', '--tenant', 'guarded', '--max-suspensions', '5', '--max-share', '0.1', '--json')).toEqual({ maxSuspensions: 5, maxShare: 0.1, windowSeconds: 3600 });
    await roster('tenant', 'set-grace', 'guarded', '600');
    await expect(roster('guard', 'set', '--tenant', 'guarded', '--max-share', '2', '--json')).rejects.toMatchObject({ code: 2 });
    const { sql } = await import('slonik');
    const rows = await stack.owner.any(sql.unsafe`
      SELECT actor_type, actor_id, data FROM audit_events WHERE tenant_id = ${t.tenantId} AND action = 'tenant.settings_updated' ORDER BY id`);
    expect(rows).toEqual([
      { actor_type: 'operator', actor_id: `cli:${userInfo().username}`, data: { before: { 'guard.maxSuspensions': 50, 'guard.maxShare': 0.2 }, after: { 'guard.maxSuspensions': 5, 'guard.maxShare': 0.1 } } },
      { actor_type: 'operator', actor_id: `cli:${userInfo().username}`, data: { before: { deletionGraceSeconds: 2_592_000 }, after: { deletionGraceSeconds: 600 } } },
    ]);
  });
});
