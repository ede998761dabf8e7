import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type ScimResponse, scimFetch, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { ENT, GROUP, LIST, SCIM_JSON, USER, expectScimError } from '../helpers/scim.js';

/** Discovery endpoints (RFC 7644 §4), unsupported endpoints, routing errors and authentication. */


let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());


describe('/ServiceProviderConfig', () => {
  it('advertises exactly what the server does', async () => {
    const res = await stack.scim(tenant, 'GET', '/ServiceProviderConfig');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    const c = res.body;
    expect(c.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    expect(c.patch).toEqual({ supported: true });
    expect(c.bulk.supported).toBe(false);
    expect(c.filter.supported).toBe(true);
    expect(c.filter.maxResults).toBe(stack.config.SCIM_MAX_PAGE_SIZE);
    expect(typeof c.filter.maxResults).toBe('number');
    expect(c.sort).toEqual({ supported: true });
    expect(c.etag).toEqual({ supported: true });
    expect(c.changePassword).toEqual({ supported: false });
    expect(c.authenticationSchemes).toEqual([expect.objectContaining({ type: 'oauthbearertoken', name: expect.any(String), description: expect.any(String) })]);
    expect(c.meta).toMatchObject({ resourceType: 'ServiceProviderConfig', location: `${stack.scimUrl}/ServiceProviderConfig` });
  });

  it('is honest: filter.maxResults is the real page cap', async () => {
    const res = await stack.scim(tenant, 'GET', `/Users?count=${stack.config.SCIM_MAX_PAGE_SIZE + 500}`);
    expect(res.status).toBe(200);
    expect(res.body.itemsPerPage).toBeLessThanOrEqual(stack.config.SCIM_MAX_PAGE_SIZE);
  });
});

describe('/ResourceTypes', () => {
  it('lists User and Group', async () => {
    const res = await stack.scim(tenant, 'GET', '/ResourceTypes');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.body.schemas).toEqual([LIST]);
    expect(res.body.totalResults).toBe(2);
    const byName = Object.fromEntries(res.body.Resources.map((r: { name: string }) => [r.name, r]));
    expect(byName.User).toMatchObject({ id: 'User', endpoint: '/Users', schema: USER, schemaExtensions: [{ schema: ENT, required: false }] });
    expect(byName.Group).toMatchObject({ id: 'Group', endpoint: '/Groups', schema: GROUP });
  });

  it('/ResourceTypes/User and /ResourceTypes/Group', async () => {
    const user = await stack.scim(tenant, 'GET', '/ResourceTypes/User');
    expect(user.status).toBe(200);
    expect(user.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      schema: USER,
      meta: { resourceType: 'ResourceType', location: `${stack.scimUrl}/ResourceTypes/User` },
    });
    expect((await stack.scim(tenant, 'GET', '/ResourceTypes/Group')).body.schema).toBe(GROUP);
  });

  it('unknown resource type is a 404 SCIM error', async () => {
    expectScimError(await stack.scim(tenant, 'GET', '/ResourceTypes/Device'), 404);
  });
});

describe('/Schemas', () => {
  it('lists User, Group and the enterprise extension', async () => {
    const res = await stack.scim(tenant, 'GET', '/Schemas');
    expect(res.status).toBe(200);
    expect(res.body.schemas).toEqual([LIST]);
    expect(res.body.Resources.map((s: { id: string }) => s.id).sort()).toEqual([ENT, GROUP, USER].sort());
    expect(res.body.totalResults).toBe(3);
  });

  it('/Schemas/<User urn> describes userName, password and groups correctly', async () => {
    const res = await stack.scim(tenant, 'GET', `/Schemas/${USER}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.body).toMatchObject({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'], id: USER, name: 'User' });
    const attr = (name: string) => res.body.attributes.find((a: { name: string }) => a.name === name);
    expect(attr('userName')).toMatchObject({ type: 'string', required: true, caseExact: false, uniqueness: 'server' });
    expect(attr('password')).toMatchObject({ mutability: 'writeOnly', returned: 'never' });
    expect(attr('groups')).toMatchObject({ mutability: 'readOnly', multiValued: true });
    expect(attr('externalId')).toMatchObject({ caseExact: true });
    // RFC 7643 §3.1: id and meta are common attributes, not part of the schema (clients that build
    // models from /Schemas would otherwise type meta as a plain complex attribute).
    expect(attr('id')).toBeUndefined();
    expect(attr('meta')).toBeUndefined();
    expect(attr('emails').subAttributes.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['value', 'type', 'primary']));
    expect(res.body.meta.location).toBe(`${stack.scimUrl}/Schemas/${USER}`);
  });

  it('/Schemas/<Group urn> and /Schemas/<enterprise urn>', async () => {
    const group = await stack.scim(tenant, 'GET', `/Schemas/${GROUP}`);
    expect(group.status).toBe(200);
    const members = group.body.attributes.find((a: { name: string }) => a.name === 'members');
    expect(members.subAttributes.map((s: { name: string }) => s.name).sort()).toEqual(['$ref', 'display', 'type', 'value']);
    // display is derived from the member, never taken from the client.
    expect(members.subAttributes.find((s: { name: string }) => s.name === 'display')).toMatchObject({ mutability: 'readOnly' });
    const ent = await stack.scim(tenant, 'GET', `/Schemas/${ENT}`);
    expect(ent.status).toBe(200);
    expect(ent.body.attributes.map((a: { name: string }) => a.name)).toEqual(
      expect.arrayContaining(['employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager']),
    );
    const manager = ent.body.attributes.find((a: { name: string }) => a.name === 'manager');
    expect(manager.subAttributes.map((s: { name: string }) => s.name).sort()).toEqual(['$ref', 'displayName', 'value']);
  });

  it('unknown schema is a 404 SCIM error', async () => {
    expectScimError(await stack.scim(tenant, 'GET', '/Schemas/urn:example:nope'), 404);
  });
});

describe('methods and unsupported endpoints', () => {
  it.each([
    ['POST', '/ServiceProviderConfig'],
    ['PUT', '/ServiceProviderConfig'],
    ['DELETE', '/ServiceProviderConfig'],
    ['PATCH', '/ServiceProviderConfig'],
    ['POST', '/ResourceTypes'],
    ['PUT', '/ResourceTypes/User'],
    ['DELETE', '/ResourceTypes/User'],
    ['POST', '/Schemas'],
    ['PUT', `/Schemas/${USER}`],
    ['DELETE', `/Schemas/${USER}`],
  ])('%s %s is 405', async (method, path) => {
    const res = await stack.scim(tenant, method, path, method === 'DELETE' ? undefined : { schemas: [USER] });
    expectScimError(res, 405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it.each([
    ['DELETE', '/Users', 'GET, HEAD, POST'],
    ['PUT', '/Groups', 'GET, HEAD, POST'],
    ['PATCH', '/Groups', 'GET, HEAD, POST'],
    ['POST', '/Users/00000000-0000-4000-8000-000000000000', 'GET, HEAD, PUT, PATCH, DELETE'],
    ['DELETE', '/.search', 'POST'],
  ])('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await stack.scim(tenant, method, path, method === 'DELETE' ? undefined : {});
    expectScimError(res, 405);
    expect(res.headers.get('allow')?.split(', ').sort()).toEqual(allow.split(', ').sort());
  });

  it.each([
    ['GET', '/Me'],
    ['POST', '/Me'],
    ['GET', '/Me/anything'],
    ['POST', '/Bulk'],
    ['GET', '/Bulk'],
  ])('%s %s is 501', async (method, path) => {
    expectScimError(await stack.scim(tenant, method, path, method === 'POST' ? { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] } : undefined), 501);
  });

  it.each(['/Nope', '/Users/abc/def', '/v1/Users', '/Schemas/a/b'])('GET %s is a 404 SCIM error', async (path) => {
    expectScimError(await stack.scim(tenant, 'GET', path), 404);
  });

  it('paths are case-insensitive', async () => {
    expect((await stack.scim(tenant, 'GET', '/users')).status).toBe(200);
    expect((await stack.scim(tenant, 'GET', '/serviceproviderconfig')).status).toBe(200);
    expect((await stack.scim(tenant, 'GET', `/schemas/${USER.toLowerCase()}`)).status).toBe(200);
    const root = stack.scimUrl.replace(/\/scim\/v2$/, '');
    expect((await scimFetch(`${root}/SCIM/V2/Users?count=1`, tenant.token, 'GET')).status).toBe(200);
  });

  it('a trailing slash names the same endpoint', async () => {
    const res = await stack.scim(tenant, 'GET', '/ServiceProviderConfig/');
    expect(res.status).toBe(200);
    expect((res.body as { schemas: string[] }).schemas).toContain('urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig');
  });

  it('HEAD answers as GET would, without a body', async () => {
    const get = await fetch(`${stack.scimUrl}/ServiceProviderConfig`, { headers: { authorization: `Bearer ${tenant.token}` } });
    const head = await fetch(`${stack.scimUrl}/ServiceProviderConfig`, { method: 'HEAD', headers: { authorization: `Bearer ${tenant.token}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(head.headers.get('content-length')).toBe(String((await get.text()).length));
    expect(await head.text()).toBe('');
  });

  it('OPTIONS is 405 with the endpoint’s methods', async () => {
    const res = await stack.scim(tenant, 'OPTIONS', '/Users');
    expectScimError(res, 405);
    expect(res.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
  });

  it('a resource id that is not valid percent-encoding is a 400 SCIM error, not a 500', async () => {
    const res = await stack.scim(tenant, 'GET', '/Users/%E0%A4%A');
    expectScimError(res, 400);
    expect((res.body as { scimType?: string }).scimType).toBe('invalidValue');
  });

  it('only /scim/v2 itself and what lies below it is SCIM', async () => {
    const root = stack.scimUrl.replace(/\/scim\/v2$/, '');
    const res = await fetch(`${root}/scim/v2x/Users`, { headers: { authorization: `Bearer ${tenant.token}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found' });
    expectScimError(await stack.scim(tenant, 'GET', ''), 404);
  });
});

describe('authentication', () => {
  async function expect401(res: ScimResponse) {
    expectScimError(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  }

  it('missing Authorization header', async () => {
    const res = await fetch(`${stack.scimUrl}/Users`);
    const body = await res.json();
    await expect401({ status: res.status, headers: res.headers, body });
  });

  it.each(['', 'garbage', 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer not-a-real-token', 'Bearer a b'])('Authorization %j', async (header) => {
    const res = await fetch(`${stack.scimUrl}/Users`, { headers: { authorization: header } });
    await expect401({ status: res.status, headers: res.headers, body: await res.json() });
  });

  it('a wrong token of the right shape', async () => {
    const forged = tenant.token.slice(0, -4) + (tenant.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expect401(await scimFetch(`${stack.scimUrl}/Users`, forged, 'GET'));
  });

  it('401 on every endpoint, including discovery and unknown paths, and writes nothing', async () => {
    for (const [method, path] of [
      ['GET', '/ServiceProviderConfig'],
      ['GET', '/Schemas'],
      ['POST', '/Users'],
      ['GET', '/Nope'],
      ['POST', '/Bulk'],
    ] as const) {
      await expect401(await scimFetch(`${stack.scimUrl}${path}`, 'bad', method, method === 'POST' ? { userName: 'x' } : undefined));
    }
    const users = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM users WHERE user_name = 'x'`);
    expect(Number(users)).toBe(0);
  });

  it('authentication comes before the body: no token and a broken or huge body is still 401', async () => {
    await expect401(await scimFetch(`${stack.scimUrl}/Users`, 'bad', 'POST', '{"userName": '));
    await expect401(await scimFetch(`${stack.scimUrl}/Users`, 'bad', 'POST', JSON.stringify({ userName: 'x', title: 'y'.repeat(2_000_000) })));
  });

  it('revoked and expired tokens', async () => {
    const t = await stack.createTenant();
    expect((await stack.scim(t, 'GET', '/Users')).status).toBe(200);
    // Tokens are cached per API process and evicted by a NOTIFY at commit: a change takes effect
    // within the notification latency, bounded at one second (test/api/scim-token-cache.test.ts).
    const refusedWithinOneSecond = async () => {
      await eventually(async () => (await stack.scim(t, 'GET', '/Users')).status === 401, 1_000, 10);
      await expect401(await stack.scim(t, 'GET', '/Users'));
    };
    await stack.owner.query(sql.unsafe`UPDATE scim_tokens SET expires_at = now() - interval '1 minute' WHERE connection_id = ${t.connectionId}`);
    await refusedWithinOneSecond();
    await stack.owner.query(sql.unsafe`UPDATE scim_tokens SET expires_at = NULL, revoked_at = now() WHERE connection_id = ${t.connectionId}`);
    await refusedWithinOneSecond();
    await expect401(await stack.scim(t, 'POST', '/Users', { userName: 'after-revoke' }));
    const n = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM users WHERE tenant_id = ${t.id}`);
    expect(Number(n)).toBe(0);
  });
});
