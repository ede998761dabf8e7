import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack.js';
import { activeUser, api, type AppTenant, appTenant, deactivate, introspect } from '../helpers/app-api-fixtures.js';

const run = promisify(execFile);
let stack: TestStack;
let a: AppTenant;
let b: AppTenant;
let userA: string;
let userB: string;
/** Every secret this file saw, to prove none is stored or echoed. */
const secrets: string[] = [];

beforeAll(async () => {
  stack = await startStack();
  a = await appTenant(stack);
  b = await appTenant(stack);
  userA = await activeUser(stack, a, 'alice@example.com', { roles: ['member'] });
  userB = await activeUser(stack, b, 'bob@example.com', { roles: ['member'] });
});
afterAll(async () => stack?.close());

const post = (t: AppTenant, path: string, body?: unknown) => api(stack, t.appKey, 'POST', path, body);

async function issue(t: AppTenant, path: string, body: unknown) {
  const res = await post(t, path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  secrets.push(res.body.token);
  return res.body as { token: string; credential: Record<string, any> };
}

describe('app API: issuing', () => {
  it('creates a session: the secret once, with its prefix; the credential without secret or hash', async () => {
    const res = await issue(a, `/api/v1/users/${userA}/sessions`, { ttlSeconds: 600 });
    expect(res.token).toMatch(/^roster_ses_[A-Za-z0-9_-]{43}$/);
    expect(res.credential).toMatchObject({ kind: 'session', userId: userA, serviceAccountId: null, revokedAt: null, scopes: [] });
    expect(res.credential.tokenPrefix).toBe(`${res.token.slice(0, 'roster_ses_'.length + 4)}…`);
    expect(Date.parse(res.credential.expiresAt) - Date.parse(res.credential.createdAt)).toBeCloseTo(600_000, -3);
    expect(Object.keys(res.credential).some((k) => /hash|secret|token$/i.test(k))).toBe(false);
    // No body at all is fine too (defaults).
    const bare = await api(stack, a.appKey, 'POST', `/api/v1/users/${userA}/sessions`);
    expect(bare.status).toBe(201);
    secrets.push(bare.body.token);
  });

  it('issues a personal token with scopes and required roles', async () => {
    const res = await issue(a, `/api/v1/users/${userA}/tokens`, { name: 'laptop', scopes: ['read', 'write', 'read'], requiredRoles: ['member'], expiresInSeconds: 86400 });
    expect(res.token).toMatch(/^roster_pat_/);
    expect(res.credential).toMatchObject({ kind: 'personal_token', name: 'laptop', scopes: ['read', 'write'], requiredRoles: ['member'] });
  });

  it('records an OAuth grant', async () => {
    const res = await post(a, `/api/v1/users/${userA}/oauth-grants`, { clientId: 'zapier', clientName: 'Zapier', scopes: ['read'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ userId: userA, clientId: 'zapier', clientName: 'Zapier', scopes: ['read'], revokedAt: null });
  });

  it('creates service accounts owned by a live user, lists them, issues their tokens', async () => {
    const sa = await post(a, '/api/v1/service-accounts', { name: 'ci bot', ownerUserId: userA });
    expect(sa.status).toBe(201);
    expect(sa.body).toMatchObject({ name: 'ci bot', ownerUserId: userA, status: 'active', orphaned: false });
    const tok = await issue(a, `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'deploy', scopes: ['deploy'] });
    expect(tok.credential).toMatchObject({ kind: 'service_account_token', serviceAccountId: sa.body.id, userId: null });
    const list = await api(stack, a.appKey, 'GET', '/api/v1/service-accounts');
    expect(list.status).toBe(200);
    expect(list.body.serviceAccounts.map((s: { id: string }) => s.id)).toContain(sa.body.id);

    expect((await post(a, '/api/v1/service-accounts', { name: 'x', ownerUserId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
    const suspended = await activeUser(stack, a, 'gone-owner@example.com');
    await deactivate(stack, a, suspended);
    const refused = await post(a, '/api/v1/service-accounts', { name: 'x', ownerUserId: suspended });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: 'user_not_active', error_description: expect.any(String) });
  });

  it('disabling a service account revokes its tokens, refuses new ones, and is idempotent', async () => {
    const sa = await post(a, '/api/v1/service-accounts', { name: 'to disable', ownerUserId: userA });
    const t1 = await issue(a, `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'one', scopes: [] });
    const t2 = await issue(a, `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'two', scopes: [] });
    const off = await post(a, `/api/v1/service-accounts/${sa.body.id}/disable`);
    expect(off.status).toBe(200);
    expect(off.body.serviceAccount).toMatchObject({ status: 'disabled', orphaned: false });
    expect(off.body.revokedTokens.sort()).toEqual([t1.credential.id, t2.credential.id].sort());
    const again = await post(a, `/api/v1/service-accounts/${sa.body.id}/disable`);
    expect(again.status).toBe(200);
    expect(again.body.revokedTokens).toEqual([]);
    expect((await post(a, `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'three', scopes: [] })).status).toBe(409);
    const audit = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM audit_events WHERE target_id = ${sa.body.id} AND action = 'service_account.disabled'`);
    expect(audit).toBe(1);
  });

  it('a suspended user cannot get new credentials of any kind (409)', async () => {
    const u = await activeUser(stack, a, 'suspended-issue@example.com');
    await deactivate(stack, a, u);
    for (const [path, body] of [
      [`/api/v1/users/${u}/sessions`, {}],
      [`/api/v1/users/${u}/tokens`, { name: 'x', scopes: [] }],
      [`/api/v1/users/${u}/oauth-grants`, { clientId: 'c', scopes: [] }],
    ] as const) {
      const res = await post(a, path, body);
      expect(res.status, path).toBe(409);
    }
  });
});

describe('app API: listing and revoking', () => {
  it("lists everything a user owns without secrets or hashes; revocation shows up with its reason", async () => {
    const u = await activeUser(stack, a, 'lister@example.com');
    const s = await issue(a, `/api/v1/users/${u}/sessions`, {});
    const p = await issue(a, `/api/v1/users/${u}/tokens`, { name: 'p', scopes: ['read'] });
    const g = await post(a, `/api/v1/users/${u}/oauth-grants`, { clientId: 'slack', scopes: ['chat'] });
    const sa = await post(a, '/api/v1/service-accounts', { name: 'owned', ownerUserId: u });
    const st = await issue(a, `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'sat', scopes: [] });

    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/oauth-grants/${g.body.id}`)).body).toMatchObject({ revoked: true, grant: { id: g.body.id } });
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/oauth-grants/${g.body.id}`)).body.revoked).toBe(false);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${p.credential.id}`)).status).toBe(200);

    const access = await api(stack, a.appKey, 'GET', `/api/v1/users/${u}/access`);
    expect(access.status).toBe(200);
    expect(access.body.sessions.map((c: { id: string }) => c.id)).toEqual([s.credential.id]);
    expect(access.body.personalTokens).toEqual([expect.objectContaining({ id: p.credential.id, revokedReason: 'revoked_by_app' })]);
    expect(access.body.oauthGrants).toEqual([expect.objectContaining({ id: g.body.id, clientId: 'slack', revokedAt: expect.any(String) })]);
    expect(access.body.serviceAccounts).toEqual([expect.objectContaining({ id: sa.body.id, tokens: [expect.objectContaining({ id: st.credential.id })] })]);
    const text = JSON.stringify(access.body);
    for (const secret of [s.token, p.token, st.token]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/hash/i);
  });

  it('unknown ids are 404 (including ids that are not UUIDs)', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${missing}`)).status).toBe(404);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/not-a-uuid`)).status).toBe(404);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/oauth-grants/${missing}`)).status).toBe(404);
    expect((await api(stack, a.appKey, 'GET', `/api/v1/users/${missing}/access`)).status).toBe(404);
    expect((await post(a, `/api/v1/users/nope/sessions`, {})).status).toBe(404);
    expect((await post(a, `/api/v1/service-accounts/${missing}/disable`)).status).toBe(404);
    const res = await post(a, `/api/v1/service-accounts/${missing}/tokens`, { name: 'x', scopes: [] });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', error_description: expect.any(String) });
  });
});

describe('app API: validation and authentication', () => {
  it('rejects invalid bodies with 400 invalid_request', async () => {
    const cases: [string, unknown][] = [
      [`/api/v1/users/${userA}/tokens`, { name: 'x' }],
      [`/api/v1/users/${userA}/tokens`, { name: 'x', scopes: 'read' }],
      [`/api/v1/users/${userA}/tokens`, { name: 'x', scopes: ['has space'] }],
      [`/api/v1/users/${userA}/tokens`, { name: 'x', scopes: [], unknownField: 1 }],
      [`/api/v1/users/${userA}/tokens`, { name: '', scopes: [] }],
      [`/api/v1/users/${userA}/sessions`, { ttlSeconds: -5 }],
      [`/api/v1/users/${userA}/sessions`, { ttlSeconds: '60' }],
      [`/api/v1/users/${userA}/oauth-grants`, { scopes: [] }],
      ['/api/v1/service-accounts', { name: 'x', ownerUserId: 'not-a-uuid' }],
      [`/api/v1/users/${userA}/tokens`, '{"name": "x", '],
      [`/api/v1/users/${userA}/tokens`, '[1,2]'],
    ];
    for (const [path, body] of cases) {
      const res = await post(a, path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    }
    const big = await post(a, `/api/v1/users/${userA}/tokens`, { name: 'x', scopes: [], pad: 'x'.repeat(100_000) });
    expect(big.status).toBe(413);
  });

  it('answers 401 without a valid app API key, before reading the body', async () => {
    for (const key of [undefined, 'roster_app_nope', a.token, 'Basic abc']) {
      const res = await api(stack, key, 'POST', `/api/v1/users/${userA}/sessions`, '{not json');
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: 'invalid_token' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await api(stack, undefined, 'GET', '/api/v1/service-accounts')).status).toBe(401);
  });
});

describe('app API: tenant isolation', () => {
  it("tenant A's key can neither read nor create for tenant B's users, nor touch B's credentials", async () => {
    const bSession = await issue(b, `/api/v1/users/${userB}/sessions`, {});
    const bGrant = await post(b, `/api/v1/users/${userB}/oauth-grants`, { clientId: 'c', scopes: [] });
    const bSa = await post(b, '/api/v1/service-accounts', { name: 'b bot', ownerUserId: userB });

    expect((await api(stack, a.appKey, 'GET', `/api/v1/users/${userB}/access`)).status).toBe(404);
    expect((await post(a, `/api/v1/users/${userB}/sessions`, {})).status).toBe(404);
    expect((await post(a, `/api/v1/users/${userB}/tokens`, { name: 'x', scopes: [] })).status).toBe(404);
    expect((await post(a, `/api/v1/users/${userB}/oauth-grants`, { clientId: 'c', scopes: [] })).status).toBe(404);
    expect((await post(a, '/api/v1/service-accounts', { name: 'steal', ownerUserId: userB })).status).toBe(404);
    expect((await post(a, `/api/v1/service-accounts/${bSa.body.id}/tokens`, { name: 'x', scopes: [] })).status).toBe(404);
    expect((await post(a, `/api/v1/service-accounts/${bSa.body.id}/disable`)).status).toBe(404);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${bSession.credential.id}`)).status).toBe(404);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/oauth-grants/${bGrant.body.id}`)).status).toBe(404);
    const listA = await api(stack, a.appKey, 'GET', '/api/v1/service-accounts');
    expect(listA.body.serviceAccounts.map((s: { id: string }) => s.id)).not.toContain(bSa.body.id);

    expect(await introspect(stack, a.appKey, bSession.token)).toEqual({ active: false });
    expect((await introspect(stack, b.appKey, bSession.token)).active).toBe(true);
  });
});

describe('secrets', () => {
  it('are never stored in clear: not in credentials, audit events or anywhere in the tenant tables', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    const dump = await stack.owner.oneFirst(sql.type(z.object({ t: z.string() }))`
      SELECT concat_ws(E'\\n',
        (SELECT string_agg(c::text, E'\\n') FROM credentials c),
        (SELECT string_agg(encode(token_hash, 'hex'), E'\\n') FROM credentials),
        (SELECT string_agg(e::text, E'\\n') FROM audit_events e),
        (SELECT string_agg(s::text, E'\\n') FROM service_accounts s),
        (SELECT string_agg(g::text, E'\\n') FROM oauth_grants g)) AS t`);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(12));
    }
    const lengths = await stack.owner.anyFirst(sql.type(z.object({ n: z.number() }))`SELECT octet_length(token_hash)::int AS n FROM credentials`);
    expect(new Set(lengths)).toEqual(new Set([32]));
  });

  it('every create and revoke is audited with the app key as actor', async () => {
    const rows = await stack.owner.any(sql.type(z.object({ action: z.string(), actor_type: z.string(), actor_id: z.string().nullable() }))`
      SELECT action, actor_type, actor_id FROM audit_events WHERE tenant_id = ${a.id} AND action ~ '^(credential|oauth_grant|service_account)\\.'`);
    const actions = new Set(rows.map((r) => r.action));
    for (const action of ['credential.issued', 'credential.revoked', 'oauth_grant.recorded', 'oauth_grant.revoked', 'service_account.created', 'service_account.disabled']) {
      expect(actions, action).toContain(action);
    }
    for (const r of rows) expect(r).toMatchObject({ actor_type: 'system', actor_id: `app-key:${a.keyId}` });
  });
});

describe('OpenAPI', () => {
  it('documents every app API path and introspection', async () => {
    const doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected: [string, string][] = [
      ['/api/v1/users/{userId}/sessions', 'post'],
      ['/api/v1/users/{userId}/tokens', 'post'],
      ['/api/v1/users/{userId}/oauth-grants', 'post'],
      ['/api/v1/users/{userId}/access', 'get'],
      ['/api/v1/service-accounts', 'post'],
      ['/api/v1/service-accounts', 'get'],
      ['/api/v1/service-accounts/{id}/tokens', 'post'],
      ['/api/v1/service-accounts/{id}/disable', 'post'],
      ['/api/v1/credentials/{id}', 'delete'],
      ['/api/v1/oauth-grants/{id}', 'delete'],
      ['/oauth2/introspect', 'post'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    expect(JSON.stringify(doc.paths['/oauth2/introspect'])).toContain('application/x-www-form-urlencoded');
  });
});

describe('roster token issue (CLI)', () => {
  it('issues a personal token for a live user by userName (case-folded) that introspects active', async () => {
    const { stdout } = await run(process.execPath, ['scripts/roster.mjs', 'token', 'issue', '--tenant', a.slug, '--user', 'ALICE@Example.com', '--scopes', 'read,write', '--json'], {
      env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' },
    });
    const out = JSON.parse(stdout);
    expect(out).toEqual({ token: expect.stringMatching(/^roster_pat_/), credentialId: expect.any(String), userId: userA });
    expect(await introspect(stack, a.appKey, out.token)).toMatchObject({ active: true, sub: userA, scope: 'read write', token_type: 'personal_token' });
    const audit = await stack.owner.one(sql.type(z.object({ actor_type: z.string(), actor_id: z.string().nullable() }))`
      SELECT actor_type, actor_id FROM audit_events WHERE target_id = ${out.credentialId} AND action = 'credential.issued'`);
    // Every CLI command names the operator's OS account in its audit rows.
    expect(audit).toEqual({ actor_type: 'operator', actor_id: `cli:${userInfo().username}` });

    const unknown = run(process.execPath, ['scripts/roster.mjs', 'token', 'issue', '--tenant', a.slug, '--user', 'nobody@example.com', '--json'], {
      env: { ...process.env, DATABASE_URL: stack.databaseUrl, LOG_LEVEL: 'silent' },
    });
    await expect(unknown).rejects.toMatchObject({ code: 2 });
  });
});

describe('methods a path does not support', () => {
  it.each([
    ['DELETE', '/api/v1/roles', 'GET, HEAD'],
    ['PATCH', '/api/v1/service-accounts', 'POST, GET, HEAD'],
    ['GET', '/api/v1/credentials/00000000-0000-4000-8000-000000000000', 'DELETE'],
    ['GET', '/oauth2/introspect', 'POST'],
    ['PUT', '/healthz', 'GET, HEAD'],
  ])('%s %s is 405 with Allow: %s (RFC 9110 §15.5.6)', async (method, path, allow) => {
    const res = await fetch(`${stack.url}${path}`, { method, headers: { authorization: `Bearer ${a.appKey}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')?.split(', ').sort()).toEqual(allow.split(', ').sort());
    expect(await res.json()).toMatchObject({ error: 'method_not_allowed' });
  });

  it('a path no route has is still 404', async () => {
    const res = await fetch(`${stack.url}/api/v1/nothing-here`, { method: 'DELETE', headers: { authorization: `Bearer ${a.appKey}` } });
    expect(res.status).toBe(404);
  });
});
