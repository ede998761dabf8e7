import { Writable } from 'node:stream';
import pino from 'pino';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appClient } from '../helpers/app-api.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(chunk.toString());
    done();
  },
});

let stack: TestStack;
let bare: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  [stack, bare] = await Promise.all([startStack({ worker: true, logger: pino({ level: 'trace' }, sink) }), startStack()]);
  tenant = await stack.createTenant();
  await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
});
afterAll(async () => Promise.all([stack?.close(), bare?.close()]));

describe('operations surface', () => {
  it('/healthz answers while the process is up; /readyz checks PostgreSQL and Temporal', async () => {
    expect(await (await fetch(`${stack.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${stack.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
    // An API without a reachable Temporal is up but not ready.
    const notReady = await fetch(`${bare.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'not ready', checks: { database: 'ok', temporal: 'not configured' } });
  });

  it('/openapi.json is generated from the zod schemas and describes SCIM', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.0.3');
    for (const path of ['/scim/v2/Users', '/scim/v2/Users/{id}', '/scim/v2/Groups', '/scim/v2/Groups/{id}', '/healthz', '/readyz', '/oauth2/introspect', '/api/v1/role-mappings/{groupId}', '/api/v1/users/{userId}/timeline', '/api/v1/events', '/api/v1/guard/release']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.components.schemas.ScimUser.properties.userName.type).toBe('string');
    expect(doc.components.schemas.ScimError.required).toEqual(expect.arrayContaining(['schemas', 'status', 'detail']));
    expect(doc.components.securitySchemes.scimBearer).toEqual({ type: 'http', scheme: 'bearer' });
  });

  it('every response carries a request id, echoed from a sane X-Request-Id', async () => {
    const own = await fetch(`${stack.url}/scim/v2/Users`, { headers: { authorization: `Bearer ${tenant.token}`, 'x-request-id': 'trace-abc.123' } });
    expect(own.headers.get('x-request-id')).toBe('trace-abc.123');
    const hostile = await fetch(`${stack.url}/scim/v2/Users`, { headers: { authorization: `Bearer ${tenant.token}`, 'x-request-id': 'bad id\n' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('secrets and personal data never reach the logs, workflow ids or outbox payloads', async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'private.person@example.com', password: 'Sup3r-Secret!', name: { givenName: 'Private' } });
    expect(created.status).toBe(201);
    const app = await appClient(stack, tenant);
    const pat = (await app.call('POST', `/api/v1/users/${created.body.id}/tokens`, { name: 'cli', scopes: ['read'] })).body.token as string;
    expect(pat).toMatch(/^roster_pat_/);
    const hook = await app.call('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hooks' });
    expect(hook.status).toBe(201);
    await stack.scim(tenant, 'PATCH', `/Users/${created.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect((await app.introspect(pat)).active).toBe(false); // suspended above
    const wrong = await stack.scim('roster_scim_this-is-a-wrong-token-value-000000000000000', 'GET', '/Users');
    expect(wrong.status).toBe(401);
    await eventually(async () => (await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM outbox WHERE delivered_at IS NULL`)) === 0);

    const log = lines.join('');
    expect(log).toContain('request completed');
    for (const secret of [tenant.token, 'roster_scim_this-is-a-wrong-token', 'Sup3r-Secret!', 'private.person', 'Private', app.key, pat, hook.body.secret]) {
      expect(log, secret).not.toContain(secret);
    }
    const payloads = await stack.owner.anyFirst(sql.type(z.object({ p: z.string() }))`SELECT payload::text AS p FROM outbox`);
    for (const p of payloads) expect(p).not.toMatch(/private|Sup3r|roster_scim_/);
    const audit = await stack.owner.anyFirst(sql.type(z.object({ d: z.string() }))`SELECT data::text AS d FROM audit_events`);
    for (const d of audit) expect(d).not.toMatch(/Sup3r|roster_scim_|private\.person|Private/);
    const ids = await eventually(async () => {
      const found: string[] = [];
      for await (const wf of stack.client!.workflow.list({ query: `TaskQueue = '${stack.taskQueue}'` })) found.push(wf.workflowId);
      return found.length > 0 && found;
    });
    // Ids only: entity workflows, approval requests, and event deliveries (approval events reach the endpoint too).
    for (const id of ids) expect(id).toMatch(/^((identity|group|approval)\/[0-9a-f-]{36}|delivery\/[0-9a-f-]{36}\/[a-z_]+)\/[0-9a-f-]{36}$/);
  });
});
