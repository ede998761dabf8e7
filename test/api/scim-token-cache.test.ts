import pino from 'pino';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpServer, startHttpServer } from '../../api/http-server.js';
import { appDatabaseUrl } from '../../core/config.js';
import { createDatabasePool, type Db, withTenant } from '../../core/db/pool.js';
import { revokeConnection, revokeToken, rotateToken } from '../../core/connections/service.js';
import { eventually, scimFetch, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * SCIM tokens are cached per API process and evicted by NOTIFY. Two independent API instances
 * (each its own pool, cache and LISTEN connection) must both refuse a revoked or rotated-out
 * token within one second, including when their listener connection was just lost.
 */

interface Api {
  http: HttpServer;
  db: Db;
}

let stack: TestStack;
const ctx = (t: TestTenant) => ({ tenantId: t.id, actor: { type: 'operator' as const, id: 'test' } });
const apis: Api[] = [];

async function startApi(): Promise<Api> {
  const db = await createDatabasePool(appDatabaseUrl(stack.config), { maximumPoolSize: 4 });
  const config = { ...stack.config, PORT: 0, HOST: '127.0.0.1', SCIM_TOKEN_TOUCH_INTERVAL_MS: 200 };
  const http = await startHttpServer({ config, db, logger: pino({ level: 'silent' }) });
  return { http, db };
}

beforeAll(async () => {
  stack = await startStack();
  apis.push(await startApi(), await startApi());
});
afterAll(async () => {
  for (const a of apis) {
    await a.http.close();
    await a.db.end();
  }
  await stack?.close();
});

const status = async (api: Api, token: string) => (await scimFetch(`${api.http.url}/scim/v2/Users?count=1`, token, 'GET')).status;
const listening = () => eventually(async () => apis.every((a) => a.http.scimTokens.active), 5_000, 20);

/** Both processes answer 200 and hold the token in memory (so the next request is not a DB check). */
async function primed(token: string) {
  await listening();
  for (const a of apis) {
    expect(await status(a, token)).toBe(200);
    expect(await status(a, token)).toBe(200);
    expect(a.http.scimTokens.size).toBeGreaterThan(0);
  }
}

/** Revocation is effective within one second on every process. */
async function refusedEverywhereWithinOneSecond(token: string) {
  await eventually(async () => (await Promise.all(apis.map((a) => status(a, token)))).every((s) => s === 401), 1_000, 20);
}

describe('SCIM token cache', () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await stack.createTenant();
  });

  it('a revoked token is refused by both API processes within one second', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    const tokenId = await stack.owner.oneFirst(sql.unsafe`SELECT id FROM scim_tokens WHERE connection_id = ${t.connectionId}`);
    await withTenant(stack.owner, t.id, (tx) => revokeToken(tx, ctx(t), { tokenId: String(tokenId) }));
    await refusedEverywhereWithinOneSecond(t.token);
  });

  it('rotation without overlap ends the old token everywhere; the new one works', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    const rotated = await withTenant(stack.owner, t.id, (tx) => rotateToken(tx, ctx(t), { connectionId: t.connectionId, overlapSeconds: 0 }));
    await refusedEverywhereWithinOneSecond(t.token);
    for (const a of apis) expect(await status(a, rotated.token)).toBe(200);
  });

  it('a rotated token with an overlap is cached only until its new expiry', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    await withTenant(stack.owner, t.id, (tx) => rotateToken(tx, ctx(t), { connectionId: t.connectionId, overlapSeconds: 1 }));
    // Still valid during the overlap (re-read with its expiry after the eviction)…
    for (const a of apis) expect(await status(a, t.token)).toBe(200);
    // …and refused once it passes, though no further notification comes.
    await eventually(async () => (await Promise.all(apis.map((a) => status(a, t.token)))).every((s) => s === 401), 3_000, 50);
  });

  it('revoking the connection ends all its tokens everywhere, and no other tenant is affected', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    await primed(tenant.token);
    await withTenant(stack.owner, t.id, (tx) => revokeConnection(tx, ctx(t), { connectionId: t.connectionId }));
    await refusedEverywhereWithinOneSecond(t.token);
    for (const a of apis) expect(await status(a, tenant.token)).toBe(200);
  });

  it('after losing its listener connection a process stops trusting its cache, and caches again once back', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    const killed = await stack.owner.anyFirst(sql.unsafe`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'roster-scim-token-listener' AND datname = current_database()`);
    expect(killed.length).toBeGreaterThanOrEqual(apis.length); // the stack's own API process listens too
    const tokenId = await stack.owner.oneFirst(sql.unsafe`SELECT id FROM scim_tokens WHERE connection_id = ${t.connectionId}`);
    // Revoked while nobody is listening: no notification will ever arrive for it.
    await withTenant(stack.owner, t.id, (tx) => revokeToken(tx, ctx(t), { tokenId: String(tokenId) }));
    await refusedEverywhereWithinOneSecond(t.token);
    // The listeners reconnect and the cache is in use again.
    const u = await stack.createTenant();
    await primed(u.token);
  });

  it('a revocation whose notification has not arrived still stops the very next request of every kind', async () => {
    const t = await stack.createTenant();
    const created = await scimFetch(`${apis[0]!.http.url}/scim/v2/Users`, t.token, 'POST', { userName: 'cached-then-revoked@example.com' });
    expect(created.status).toBe(201);
    await primed(t.token);
    const cachedBefore = apis.map((a) => a.http.scimTokens.size);
    // Revoked with triggers off for this transaction: no NOTIFY is sent, so every process still
    // holds the token in memory. Only the in-statement re-check (scim_token_tenant) can stop it.
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SET LOCAL session_replication_role = replica`);
      await tx.query(sql.unsafe`UPDATE scim_tokens SET revoked_at = now() WHERE connection_id = ${t.connectionId}`);
    });
    const requests: Array<[string, string, unknown?]> = [
      ['GET', '/Users?filter=' + encodeURIComponent('userName eq "cached-then-revoked@example.com"')],
      ['GET', '/Users?count=1'],
      ['GET', `/Users/${created.body.id}`],
      ['POST', '/Users', { userName: 'must-not-exist@example.com' }],
      ['PATCH', `/Users/${created.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }],
      ['POST', '/Groups', { displayName: 'must-not-exist' }],
    ];
    for (const a of apis) {
      for (const [method, path, body] of requests) {
        const res = await scimFetch(`${a.http.url}/scim/v2${path}`, t.token, method, body);
        expect([method, path, res.status]).toEqual([method, path, 401]);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.body.detail).toMatch(/revoked/);
      }
    }
    expect(apis.map((a) => a.http.scimTokens.size)).toEqual(cachedBefore); // answered from memory, refused by the database
    const written = await stack.owner.oneFirst(sql.unsafe`
      SELECT (SELECT count(*) FROM users WHERE tenant_id = ${t.id} AND (user_name = 'must-not-exist@example.com' OR active = false))
           + (SELECT count(*) FROM groups WHERE tenant_id = ${t.id})`);
    expect(Number(written)).toBe(0);
  });

  it('unknown tokens are not cached', async () => {
    await listening();
    const before = apis[0]!.http.scimTokens.size;
    for (let i = 0; i < 5; i++) expect(await status(apis[0]!, `scim_${'x'.repeat(40)}${i}`)).toBe(401);
    expect(apis[0]!.http.scimTokens.size).toBe(before);
  });

  it('last_used_at is written in the background, not per request', async () => {
    const t = await stack.createTenant();
    await primed(t.token);
    const used = await eventually(
      async () => stack.owner.maybeOneFirst(sql.unsafe`SELECT last_used_at FROM scim_tokens WHERE connection_id = ${t.connectionId} AND last_used_at IS NOT NULL`),
      5_000,
      50,
    );
    expect(used).toBeTruthy();
  });
});
