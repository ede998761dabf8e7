import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack.js';
import { activeUser, api, type AppTenant, appTenant, deactivate, dropRole, grantRole, introspect, markActivated } from '../helpers/app-api-fixtures.js';

let stack: TestStack;
let a: AppTenant;
let b: AppTenant;

beforeAll(async () => {
  stack = await startStack();
  a = await appTenant(stack);
  b = await appTenant(stack);
});
afterAll(async () => stack?.close());

async function session(t: AppTenant, userId: string, ttlSeconds?: number) {
  const res = await api(stack, t.appKey, 'POST', `/api/v1/users/${userId}/sessions`, ttlSeconds ? { ttlSeconds } : {});
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { token: string; credential: { id: string } };
}

async function pat(t: AppTenant, userId: string, body: Record<string, unknown> = {}) {
  const res = await api(stack, t.appKey, 'POST', `/api/v1/users/${userId}/tokens`, { name: 'ci', scopes: ['read'], ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { token: string; credential: { id: string } };
}

describe('POST /oauth2/introspect (RFC 7662)', () => {
  it('answers an active session with sub, scope, exp, iat, token_type, tenant and roles, and no PII', async () => {
    const userId = await activeUser(stack, a, 'intro-fields@example.com', { roles: ['member', 'admin'] });
    const before = Math.floor(Date.now() / 1000);
    const s = await session(a, userId, 3600);
    const answer = await introspect(stack, a.appKey, s.token);
    expect(answer).toEqual({
      active: true,
      sub: userId,
      principal_type: 'user',
      scope: '',
      iat: expect.any(Number),
      exp: expect.any(Number),
      token_type: 'session',
      tenant: a.id,
      roles: ['admin', 'member'],
    });
    expect(answer.iat).toBeGreaterThanOrEqual(before - 2);
    expect(answer.exp - answer.iat).toBeGreaterThanOrEqual(3599);
    expect(answer.exp - answer.iat).toBeLessThanOrEqual(3601);
    expect(JSON.stringify(answer)).not.toContain('intro-fields');

    const p = await pat(a, userId, { scopes: ['read', 'write'] });
    const pAnswer = await introspect(stack, a.appKey, p.token, { json: true });
    expect(pAnswer).toMatchObject({ active: true, sub: userId, scope: 'read write', token_type: 'personal_token', tenant: a.id });
    expect(pAnswer.exp).toBeUndefined();
  });

  it('sets Cache-Control: no-store; a missing token is 400 invalid_request; an unknown one is active:false', async () => {
    const res = await fetch(`${stack.url}/oauth2/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.appKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token_type_hint=access_token',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    const empty = await fetch(`${stack.url}/oauth2/introspect`, { method: 'POST', headers: { authorization: `Bearer ${a.appKey}` } });
    expect(empty.status).toBe(400);

    const unknown = await fetch(`${stack.url}/oauth2/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.appKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'roster_pat_not-a-real-token' }).toString(),
    });
    expect(unknown.status).toBe(200);
    expect(unknown.headers.get('cache-control')).toBe('no-store');
    expect(await unknown.json()).toEqual({ active: false });
    expect(await introspect(stack, a.appKey, 'garbage')).toEqual({ active: false });
    expect(await introspect(stack, a.appKey, a.appKey)).toEqual({ active: false });
  });

  it('takes JSON as well as a form; the path is case-insensitive; other methods are 405 with Allow: POST; bad bodies are 4xx', async () => {
    const post = (path: string, body: string, contentType: string) =>
      fetch(`${stack.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${a.appKey}`, 'content-type': contentType }, body });
    const asJson = await post('/oauth2/introspect', JSON.stringify({ token: 'roster_pat_not-a-real-token' }), 'application/json');
    expect(asJson.status).toBe(200);
    expect(asJson.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await asJson.json()).toEqual({ active: false });
    expect((await post('/OAuth2/Introspect/', 'token=roster_pat_x', 'application/x-www-form-urlencoded')).status).toBe(200);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${stack.url}/oauth2/introspect`, { method, headers: { authorization: `Bearer ${a.appKey}` } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ error: 'method_not_allowed' });
    }
    const malformed = await post('/oauth2/introspect', '{"token":', 'application/json');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request' });
    const huge = await post('/oauth2/introspect', `token=${'a'.repeat(40_000)}`, 'application/x-www-form-urlencoded');
    expect(huge.status).toBe(413);
    expect(huge.headers.get('x-request-id')).toBeTruthy();
  });

  it('requires the app API key as a Bearer credential (401 otherwise, revoked keys included)', async () => {
    const body = new URLSearchParams({ token: 'roster_ses_x' }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await fetch(`${stack.url}/oauth2/introspect`, { method: 'POST', headers, body })).status).toBe(401);
    for (const key of ['roster_app_wrong', a.token /* a SCIM token is not an app key */, `${a.appKey}x`]) {
      const res = await fetch(`${stack.url}/oauth2/introspect`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${key}` }, body });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_token' });
    }
    const extra = await appTenant(stack);
    await stack.owner.query(sql.unsafe`UPDATE app_api_keys SET revoked_at = now() WHERE id = ${extra.keyId}`);
    const revoked = await fetch(`${stack.url}/oauth2/introspect`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${extra.appKey}` }, body });
    expect(revoked.status).toBe(401);
  });

  it('SCIM active=false makes every credential of the user inactive at once, with no workflow running', async () => {
    const userId = await activeUser(stack, a, 'suspend-me@example.com', { roles: ['member'] });
    const tokens = [(await session(a, userId)).token, (await pat(a, userId)).token, (await pat(a, userId, { requiredRoles: ['member'] })).token];
    for (const t of tokens) expect((await introspect(stack, a.appKey, t)).active).toBe(true);

    const started = Date.now();
    const patch = await deactivate(stack, a, userId, 'False'); // Entra sends a string
    expect(patch.status).toBeLessThan(300);
    for (const t of tokens) expect(await introspect(stack, a.appKey, t)).toEqual({ active: false });
    expect(Date.now() - started).toBeLessThan(5000);

    // No new credentials for a suspended user.
    const refused = await api(stack, a.appKey, 'POST', `/api/v1/users/${userId}/sessions`, {});
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'user_not_active' });
  });

  it('SCIM DELETE makes the credentials inactive at once, too', async () => {
    const userId = await activeUser(stack, a, 'delete-me@example.com');
    const s = await session(a, userId);
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(true);
    expect((await stack.scim(a, 'DELETE', `/Users/${userId}`)).status).toBe(204);
    expect(await introspect(stack, a.appKey, s.token)).toEqual({ active: false });
  });

  it('reactivation does not bring back a revoked credential', async () => {
    const userId = await activeUser(stack, a, 'come-back@example.com');
    const s = await session(a, userId);
    const p = await pat(a, userId);
    expect((await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${p.credential.id}`)).status).toBe(200);
    await deactivate(stack, a, userId);
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(false);

    expect((await deactivate(stack, a, userId, true)).status).toBeLessThan(300);
    // Until the identity workflow activates the user again, nothing works.
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(false);
    await markActivated(stack, a, userId);
    expect(await introspect(stack, a.appKey, p.token)).toEqual({ active: false });
    // A credential nobody revoked follows the user's state (the leaver revokes durably).
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(true);
  });

  it('a provisioned user (joiner not yet run) holds credentials that are inactive until activation', async () => {
    const res = await stack.scim(a, 'POST', '/Users', { userName: 'fresh@example.com' });
    const userId = res.body.id as string;
    const s = await session(a, userId);
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(false);
    await markActivated(stack, a, userId);
    expect((await introspect(stack, a.appKey, s.token)).active).toBe(true);
  });

  it('an expired token is inactive', async () => {
    const userId = await activeUser(stack, a, 'expiring@example.com');
    const p = await pat(a, userId, { expiresInSeconds: 60 });
    expect((await introspect(stack, a.appKey, p.token)).active).toBe(true);
    await stack.owner.query(sql.unsafe`UPDATE credentials SET expires_at = now() - interval '1 second' WHERE id = ${p.credential.id}`);
    expect(await introspect(stack, a.appKey, p.token)).toEqual({ active: false });
  });

  it('a token whose required role the user does not hold is inactive', async () => {
    const userId = await activeUser(stack, a, 'roles@example.com', { roles: ['member'] });
    const p = await pat(a, userId, { requiredRoles: ['member', 'billing-admin'] });
    expect(await introspect(stack, a.appKey, p.token)).toEqual({ active: false });
    await grantRole(stack, a, userId, 'billing-admin');
    expect(await introspect(stack, a.appKey, p.token)).toMatchObject({ active: true, roles: ['billing-admin', 'member'] });
    await dropRole(stack, a, userId, 'member');
    expect(await introspect(stack, a.appKey, p.token)).toEqual({ active: false });
  });

  it('a revoked credential is inactive; revoking again is idempotent', async () => {
    const userId = await activeUser(stack, a, 'revoked@example.com');
    const s = await session(a, userId);
    const first = await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${s.credential.id}`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ revoked: true, credential: { id: s.credential.id, revokedReason: 'revoked_by_app' } });
    expect(await introspect(stack, a.appKey, s.token)).toEqual({ active: false });
    const again = await api(stack, a.appKey, 'DELETE', `/api/v1/credentials/${s.credential.id}`);
    expect(again.status).toBe(200);
    expect(again.body.revoked).toBe(false);
  });

  it("service-account tokens follow the account's status, not the owner's", async () => {
    const owner = await activeUser(stack, a, 'sa-owner@example.com');
    const sa = await api(stack, a.appKey, 'POST', '/api/v1/service-accounts', { name: 'deploy bot', ownerUserId: owner });
    expect(sa.status).toBe(201);
    const tok = await api(stack, a.appKey, 'POST', `/api/v1/service-accounts/${sa.body.id}/tokens`, { name: 'ci', scopes: ['deploy'] });
    expect(tok.status).toBe(201);
    expect(tok.body.token).toMatch(/^roster_sat_/);
    expect(await introspect(stack, a.appKey, tok.body.token)).toMatchObject({
      active: true,
      sub: sa.body.id,
      principal_type: 'service_account',
      scope: 'deploy',
      token_type: 'service_account_token',
      tenant: a.id,
      roles: [],
    });
    await deactivate(stack, a, owner);
    expect((await introspect(stack, a.appKey, tok.body.token)).active).toBe(true);
    expect((await api(stack, a.appKey, 'POST', `/api/v1/service-accounts/${sa.body.id}/disable`)).status).toBe(200);
    expect(await introspect(stack, a.appKey, tok.body.token)).toEqual({ active: false });
  });

  it("tenant A's app key cannot introspect tenant B's tokens", async () => {
    const userB = await activeUser(stack, b, 'b-user@example.com');
    const s = await session(b, userB);
    expect((await introspect(stack, b.appKey, s.token)).active).toBe(true);
    expect(await introspect(stack, a.appKey, s.token)).toEqual({ active: false });
  });

  it('records last use at most once a minute', async () => {
    const userId = await activeUser(stack, a, 'last-used@example.com');
    const s = await session(a, userId);
    await introspect(stack, a.appKey, s.token);
    const first = await stack.owner.oneFirst(sql.unsafe`SELECT last_used_at FROM credentials WHERE id = ${s.credential.id}`);
    expect(first).not.toBeNull();
    await introspect(stack, a.appKey, s.token);
    expect(await stack.owner.oneFirst(sql.unsafe`SELECT last_used_at FROM credentials WHERE id = ${s.credential.id}`)).toEqual(first);
  });

  it("records no use of a credential that answers inactive (suspended user, missing role, another tenant's key)", async () => {
    const lastUsed = (id: string) => stack.owner.oneFirst(sql.unsafe`SELECT last_used_at FROM credentials WHERE id = ${id}`);
    const suspended = await activeUser(stack, a, 'last-used-suspended@example.com');
    const s1 = await session(a, suspended);
    await deactivate(stack, a, suspended);
    expect(await introspect(stack, a.appKey, s1.token)).toEqual({ active: false });
    expect(await lastUsed(s1.credential.id)).toBeNull();

    const roleless = await activeUser(stack, a, 'last-used-role@example.com', { roles: ['admin'] });
    const t = await pat(a, roleless, { requiredRoles: ['admin'] });
    await dropRole(stack, a, roleless, 'admin');
    expect(await introspect(stack, a.appKey, t.token)).toEqual({ active: false });
    expect(await lastUsed(t.credential.id)).toBeNull();

    const live = await activeUser(stack, a, 'last-used-foreign@example.com');
    const s2 = await session(a, live);
    expect(await introspect(stack, b.appKey, s2.token)).toEqual({ active: false });
    expect(await lastUsed(s2.credential.id)).toBeNull();
  });
});
