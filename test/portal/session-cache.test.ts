import { withTenant } from '../../core/db/pool.js';
import { updateMemberRoles } from '../../core/portal-auth/service.js';
import pino from 'pino';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpServer, startHttpServer } from '../../api/http-server.js';
import { appDatabaseUrl } from '../../core/config.js';
import { createDatabasePool, type Db } from '../../core/db/pool.js';
import { type ApiClient, clientFor, portalClient, portalSignIn, type PortalTestClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Portal sessions are cached per API process. Two independent API instances (each its own pool,
 * cache and LISTEN connection) serve the same person; a sign-out, a revoked session, a removed
 * member or a changed role takes effect on the very next request on either of them, before any
 * notification is waited for, because each cached session is re-checked in the request's own
 * transaction. The notification then evicts the entry everywhere, and uses served from memory
 * still reach last_seen_at (batched), so the idle timeout stays right.
 */

interface Api {
  http: HttpServer;
  db: Db;
}

let stack: TestStack;
let tenant: TestTenant;
let admin: PortalTestClient;
const apis: Api[] = [];

async function startApi(): Promise<Api> {
  const db = await createDatabasePool(appDatabaseUrl(stack.config), { maximumPoolSize: 4 });
  // Idle 40 s: uses move last_seen_at when it is 4 s (idle/10) or more behind; flushed every 200 ms.
  const config = { ...stack.config, PORT: 0, HOST: '127.0.0.1', PORTAL_SESSION_TOUCH_INTERVAL_MS: 200, PORTAL_SESSION_IDLE_SECONDS: 40 };
  const http = await startHttpServer({ config, db, logger: pino({ level: 'silent' }) });
  return { http, db };
}

beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
  apis.push(await startApi(), await startApi());
  admin = await portalClient(stack, tenant, { roles: ['admin'] });
});
afterAll(async () => {
  for (const a of apis) {
    await a.http.close();
    await a.db.end();
  }
  await stack?.close();
});

/** The same session (cookie, CSRF token) against one API instance. */
const on = (api: Api, c: ApiClient): ApiClient => clientFor(`${api.http.url}/portal/api`, 'roster_portal', c.cookie, c.csrfToken);
const [A, B] = [0, 1] as const;

/** Both processes listen and hold the person's session in memory (the next request is a cache hit). */
async function primed(c: ApiClient, path = '/session') {
  await eventually(async () => apis.every((a) => a.http.portalSessions.active), 5_000, 20);
  for (const a of apis) {
    const before = a.http.portalSessions.size;
    expect((await on(a, c).request('GET', path)).status).toBe(200);
    expect((await on(a, c).request('GET', path)).status).toBe(200);
    expect(a.http.portalSessions.size).toBeGreaterThanOrEqual(Math.max(1, before));
  }
}

const lastSeen = (sessionOf: string) =>
  stack.owner.oneFirst(sql.type(z.object({ t: z.string() }))`
    SELECT last_seen_at::text AS t FROM portal_sessions WHERE user_id = ${sessionOf} ORDER BY created_at DESC LIMIT 1`);

describe('portal session cache across two API processes', () => {
  it('a cached session answers without resolving again: the entry is reused, and a bad cookie is never cached', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    const size = apis[A]!.http.portalSessions.size;
    for (let i = 0; i < 5; i++) expect((await on(apis[A]!, p).request('GET', '/users')).status).toBe(200);
    expect(apis[A]!.http.portalSessions.size).toBe(size);
    const forged = { ...p, cookie: `${p.cookie.slice(0, -2)}xx` };
    expect((await on(apis[A]!, forged).request('GET', '/session')).status).toBe(401);
    expect(apis[A]!.http.portalSessions.size).toBe(size);
  });

  it('sign-out on one process: the next request on the other is 401 at once, and the entry is evicted by NOTIFY', async () => {
    const p = await portalClient(stack, tenant, { roles: ['reviewer'] });
    await primed(p, '/users');
    const sizeB = apis[B]!.http.portalSessions.size;
    expect((await on(apis[A]!, p).request('POST', '/sign-out')).status).toBe(204);
    const after = await on(apis[B]!, p).request('GET', '/users');
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: 'unauthenticated' });
    expect((await on(apis[A]!, p).request('GET', '/session')).status).toBe(401);
    // A streamed route (no transaction to re-check in) refuses it too.
    expect((await on(apis[B]!, p).request('GET', `/users/00000000-0000-4000-8000-000000000000/timeline`)).status).toBe(401);
    await eventually(async () => apis[B]!.http.portalSessions.size < sizeB, 2_000, 20);
  });

  it('a session revoked from the account page (on the other process) ends at once on both', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    const sessionId = await stack.owner.oneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM portal_sessions WHERE user_id = ${p.userId} AND revoked_at IS NULL`);
    const second = await portalSignIn(stack, tenant.slug, p.email, p.password);
    expect((await on(apis[B]!, second).request('DELETE', `/account/sessions/${sessionId}`)).status).toBe(204);
    for (const a of apis) expect((await on(a, p).request('GET', '/session')).status).toBe(401);
    expect((await on(apis[A]!, second).request('GET', '/session')).status).toBe(200);
  });

  it('even when no notification arrives (triggers off), a revoked cached session is refused on its next request', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    const sizes = apis.map((a) => a.http.portalSessions.size);
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SET LOCAL session_replication_role = replica`);
      await tx.query(sql.unsafe`UPDATE portal_sessions SET revoked_at = now() WHERE user_id = ${p.userId}`);
    });
    // The entries are still there (nothing told the processes) ...
    expect(apis.map((a) => a.http.portalSessions.size)).toEqual(sizes);
    // ... yet the re-check in each request's transaction refuses the session, plain and streamed.
    for (const a of apis) {
      expect((await on(a, p).request('GET', '/users')).status).toBe(401);
      expect((await on(a, p).request('GET', `/users/00000000-0000-4000-8000-000000000000/timeline`)).status).toBe(401);
    }
  });

  it('a role removed (as an approved portal_roles.set applies it, from any process) is refused on every API process at once (403), the new role works', async () => {
    const p = await portalClient(stack, tenant, { roles: ['reviewer'] });
    await primed(p, '/users');
    // Role changes are change requests (issue 8); the engine applies them through this service.
    await withTenant(stack.owner, tenant.id, (tx) => updateMemberRoles(tx, tenant.id, { type: 'user', id: admin.userId }, p.userId, ['approver']));
    const refused = await on(apis[B]!, p).request('GET', '/users');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'forbidden' });
    expect((await on(apis[A]!, p).request('GET', '/users')).status).toBe(403);
    expect((await on(apis[B]!, p).request('GET', '/session')).body.user.roles).toEqual(['approver']);
  });

  it('a removed member is signed out everywhere at once', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    expect((await on(apis[B]!, admin).request('DELETE', `/members/${p.userId}`)).status).toBe(204);
    for (const a of apis) expect((await on(a, p).request('GET', '/users')).status).toBe(401);
  });

  it('after losing its listener connection a process caches nothing (and empties), and caches again once back', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    const killed = await stack.owner.anyFirst(sql.unsafe`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'roster-portal-session-listener' AND datname = current_database()`);
    expect(killed.length).toBeGreaterThanOrEqual(apis.length); // the stack's own API process listens too
    await eventually(async () => apis.every((a) => !a.http.portalSessions.active || a.http.portalSessions.size === 0), 2_000, 10);
    // Meanwhile requests still work (resolved in the database) ...
    for (const a of apis) expect((await on(a, p).request('GET', '/session')).status).toBe(200);
    // ... and once the listeners are back, sessions are cached again.
    await primed(p);
    for (const a of apis) expect(a.http.portalSessions.size).toBeGreaterThan(0);
  });

  it('uses served from memory reach last_seen_at in batches (idle timeout stays right)', async () => {
    const p = await portalClient(stack, tenant, { roles: ['auditor'] });
    await primed(p);
    // Pretend the last write was a minute ago: the next flush must move it forward.
    await stack.owner.query(sql.unsafe`UPDATE portal_sessions SET last_seen_at = now() - interval '30 seconds' WHERE user_id = ${p.userId}`);
    const stale = await lastSeen(p.userId);
    expect((await on(apis[A]!, p).request('GET', '/session')).status).toBe(200);
    await eventually(async () => Date.parse(await lastSeen(p.userId)) > Date.parse(stale) + 25_000, 10_000, 50);
    // And a session idle for longer than the timeout is refused, cached or not, on the next read.
    await stack.owner.query(sql.unsafe`UPDATE portal_sessions SET last_seen_at = now() - interval '1 hour', revoked_at = now() WHERE user_id = ${p.userId}`);
    for (const a of apis) expect((await on(a, p).request('GET', '/session')).status).toBe(401);
  });
});
