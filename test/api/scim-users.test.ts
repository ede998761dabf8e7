import pg from 'pg';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withTenant } from '../../core/db/pool.js';
import { openPersonalData, SealedPersonalData } from '../../core/repositories/personal-data.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { ENT, LIST, PATCH_OP, SCIM_JSON, USER, enc, expectScimError, patchBody } from '../helpers/scim.js';

/**
 * SCIM /Users conformance (RFC 7643 / RFC 7644 baseline of docs/scim.md), over real HTTP against
 * the real app and a real database.
 */


let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());



async function writeCounts(t: TestTenant) {
  const audit = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM audit_events WHERE tenant_id = ${t.id}`);
  const outbox = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM outbox WHERE tenant_id = ${t.id}`);
  return { audit: Number(audit), outbox: Number(outbox) };
}

async function createUser(t: TestTenant, body: Record<string, unknown>) {
  const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; meta: { version: string; created: string } } & Record<string, any>;
}

async function listIds(t: TestTenant, query: string): Promise<string[]> {
  const res = await stack.scim(t, 'GET', `/Users?${query}`);
  expect(res.status, `${query}: ${JSON.stringify(res.body)}`).toBe(200);
  return res.body.Resources.map((r: { id: string }) => r.id);
}

async function filterIds(t: TestTenant, filter: string): Promise<string[]> {
  return (await listIds(t, `filter=${enc(filter)}&count=1000`)).sort();
}

describe('POST /Users and GET one', () => {
  it('creates with 201, Location, ETag and meta; GET returns the same resource', async () => {
    const t = await stack.createTenant();
    const before = await writeCounts(t);
    const res = await stack.scim(t, 'POST', '/Users', {
      schemas: [USER, ENT],
      userName: 'create@example.com',
      externalId: 'ext-create',
      name: { givenName: 'Cre', familyName: 'Ate' },
      displayName: 'Cre Ate',
      emails: [{ value: 'create@example.com', type: 'work', primary: true }],
      [ENT]: { department: 'R&D', employeeNumber: '42' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    const body = res.body;
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.schemas).toEqual(expect.arrayContaining([USER, ENT]));
    expect(body.userName).toBe('create@example.com');
    expect(body.externalId).toBe('ext-create');
    expect(body.active).toBe(true);
    expect(body[ENT]).toEqual({ department: 'R&D', employeeNumber: '42' });
    expect(body.groups).toEqual([]);
    expect(body.meta.resourceType).toBe('User');
    expect(body.meta.location).toBe(`${stack.scimUrl}/Users/${body.id}`);
    expect(res.headers.get('location')).toBe(body.meta.location);
    expect(res.headers.get('etag')).toBe(body.meta.version);
    expect(Date.parse(body.meta.created)).not.toBeNaN();
    expect(Date.parse(body.meta.lastModified)).not.toBeNaN();
    expect(await writeCounts(t)).toEqual({ audit: before.audit + 1, outbox: before.outbox + 1 });

    const got = await stack.scim(t, 'GET', `/Users/${body.id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(got.headers.get('etag')).toBe(body.meta.version);
    expect(got.body).toEqual(body);
  });

  it('accepts application/json in and always answers application/scim+json', async () => {
    const res = await stack.scim(tenant, 'POST', '/Users', { userName: 'json-in@example.com' }, { 'content-type': 'application/json' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    const patched = await stack.scim(
      tenant,
      'PATCH',
      `/Users/${res.body.id}`,
      patchBody({ op: 'replace', path: 'displayName', value: 'J' }),
      { 'content-type': 'application/json; charset=utf-8' },
    );
    expect(patched.status).toBe(200);
    expect(patched.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(patched.body.displayName).toBe('J');
    // errors, lists and 404s too
    expect((await stack.scim(tenant, 'GET', '/Users')).headers.get('content-type')).toMatch(SCIM_JSON);
    expectScimError(await stack.scim(tenant, 'GET', '/Users/00000000-0000-4000-8000-000000000000'), 404);
  });

  it('GET of an unknown or malformed id is a 404 SCIM error', async () => {
    expectScimError(await stack.scim(tenant, 'GET', '/Users/6f1c1f6e-5b0e-4a43-9a4e-0b7b6a1f0000'), 404);
    expectScimError(await stack.scim(tenant, 'GET', '/Users/not-a-uuid'), 404);
  });

  it('a missing userName is 400 invalidValue and writes nothing', async () => {
    const t = await stack.createTenant();
    const before = await writeCounts(t);
    expectScimError(await stack.scim(t, 'POST', '/Users', { schemas: [USER], displayName: 'nobody' }), 400, 'invalidValue');
    expect(await writeCounts(t)).toEqual(before);
  });

  it('never stores or returns password', async () => {
    const u = await createUser(tenant, { userName: 'pw@example.com', password: 'Sup3rS3cret!' });
    expect(u.password).toBeUndefined();
    expect(JSON.stringify(u)).not.toContain('Sup3rS3cret');
    const got = await stack.scim(tenant, 'GET', `/Users/${u.id}?attributes=password,userName`);
    expect(got.body.password).toBeUndefined();
    const row = await stack.owner.one(sql.unsafe`SELECT to_jsonb(u) AS j FROM users u WHERE id = ${u.id}`);
    expect(JSON.stringify(row.j)).not.toContain('Sup3rS3cret');
    const audit = await stack.owner.anyFirst(sql.unsafe`SELECT data::text FROM audit_events WHERE target_id = ${u.id}`);
    expect(audit.join('')).not.toContain('Sup3rS3cret');
  });
});

describe('uniqueness', () => {
  it('duplicate userName, case variant and NFKC full-width look-alike are 409 uniqueness; nothing written', async () => {
    const t = await stack.createTenant();
    await createUser(t, { userName: 'alice' });
    const before = await writeCounts(t);
    for (const userName of ['alice', 'ALICE', 'Alice', 'ａｌｉｃｅ', 'ＡＬＩＣＥ']) {
      const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName });
      expectScimError(res, 409, 'uniqueness');
      expect(res.body.status).toBe('409');
    }
    expect(await writeCounts(t)).toEqual(before);
    const n = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM users WHERE tenant_id = ${t.id}`);
    expect(Number(n)).toBe(1);
  });

  it('renaming onto a taken userName (PUT or PATCH) is 409 and changes nothing', async () => {
    const t = await stack.createTenant();
    await createUser(t, { userName: 'taken' });
    const b = await createUser(t, { userName: 'free' });
    const before = await writeCounts(t);
    expectScimError(await stack.scim(t, 'PUT', `/Users/${b.id}`, { schemas: [USER], userName: 'TAKEN' }), 409, 'uniqueness');
    expectScimError(
      await stack.scim(t, 'PATCH', `/Users/${b.id}`, patchBody({ op: 'replace', path: 'userName', value: 'Ｔａｋｅｎ' })),
      409,
      'uniqueness',
    );
    expect(await writeCounts(t)).toEqual(before);
    expect((await stack.scim(t, 'GET', `/Users/${b.id}`)).body.userName).toBe('free');
  });

  it('the same userName in another tenant is fine; a deleted user frees its userName', async () => {
    const a = await stack.createTenant();
    const b = await stack.createTenant();
    const u = await createUser(a, { userName: 'shared@example.com' });
    await createUser(b, { userName: 'shared@example.com' });
    expect((await stack.scim(a, 'DELETE', `/Users/${u.id}`)).status).toBe(204);
    await createUser(a, { userName: 'shared@example.com' });
  });
});

describe('GET /Users paging', () => {
  let t: TestTenant;
  let all: string[];
  beforeAll(async () => {
    t = await stack.createTenant();
    all = [];
    for (let i = 0; i < 25; i++) all.push((await createUser(t, { userName: `page-${String(i).padStart(2, '0')}@example.com` })).id);
  });

  it('pages of 7 through 25 users: no duplicates, none missing, stable order, JSON numbers', async () => {
    const seen: string[] = [];
    for (let start = 1; start <= 25; start += 7) {
      const res = await stack.scim(t, 'GET', `/Users?startIndex=${start}&count=7`);
      expect(res.status).toBe(200);
      expect(res.body.schemas).toEqual([LIST]);
      expect(res.body.totalResults).toBe(25);
      expect(res.body.startIndex).toBe(start);
      expect(res.body.itemsPerPage).toBe(Math.min(7, 26 - start));
      expect(res.body.Resources).toHaveLength(Math.min(7, 26 - start));
      seen.push(...res.body.Resources.map((r: { id: string }) => r.id));
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect([...seen].sort()).toEqual([...all].sort());
    // stable: paging again gives the same sequence
    const again: string[] = [];
    for (let start = 1; start <= 25; start += 7) again.push(...(await listIds(t, `startIndex=${start}&count=7`)));
    expect(again).toEqual(seen);
    // and it is the same order as one big page
    expect(await listIds(t, 'count=100')).toEqual(seen);
  });

  it('totalResults, itemsPerPage and startIndex are JSON numbers (not strings)', async () => {
    const res = await stack.scim(t, 'GET', '/Users?startIndex=3&count=2');
    expect(typeof res.body.totalResults).toBe('number');
    expect(typeof res.body.itemsPerPage).toBe('number');
    expect(typeof res.body.startIndex).toBe('number');
    expect(res.body).toMatchObject({ totalResults: 25, itemsPerPage: 2, startIndex: 3 });
  });

  it('startIndex < 1 is read as 1', async () => {
    const first = await listIds(t, 'startIndex=1&count=3');
    for (const s of ['0', '-5']) {
      const res = await stack.scim(t, 'GET', `/Users?startIndex=${s}&count=3`);
      expect(res.status).toBe(200);
      expect(res.body.startIndex).toBe(1);
      expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual(first);
    }
  });

  it('count=0 and count<0 return totals only', async () => {
    for (const c of ['0', '-1']) {
      const res = await stack.scim(t, 'GET', `/Users?count=${c}`);
      expect(res.status).toBe(200);
      expect(res.body.totalResults).toBe(25);
      expect(res.body.itemsPerPage).toBe(0);
      expect(res.body.Resources ?? []).toEqual([]);
    }
  });

  it('startIndex past the end gives an empty page with the true total', async () => {
    const res = await stack.scim(t, 'GET', '/Users?startIndex=100&count=10');
    expect(res.status).toBe(200);
    expect(res.body.totalResults).toBe(25);
    expect(res.body.Resources ?? []).toEqual([]);
  });

  it('sortBy/sortOrder order the results, and paging respects the sort', async () => {
    const names = async (q: string) =>
      ((await stack.scim(t, 'GET', `/Users?${q}`)).body.Resources as { userName: string }[]).map((r) => r.userName);
    const asc = await names('sortBy=userName&count=100');
    expect(asc).toHaveLength(25);
    expect(asc).toEqual([...asc].sort());
    expect(await names('sortBy=userName&sortOrder=ascending&count=100')).toEqual(asc);
    expect(await names('sortBy=userName&sortOrder=descending&count=100')).toEqual([...asc].reverse());
    expect(await names('sortBy=USERNAME&sortOrder=Descending&count=5&startIndex=6')).toEqual([...asc].reverse().slice(5, 10));
    expect((await stack.scim(t, 'GET', '/Users?sortBy=meta.created&count=1')).status).toBe(200);
    expectScimError(await stack.scim(t, 'GET', '/Users?sortBy=userName&sortOrder=sideways'), 400, 'invalidValue');
    expectScimError(await stack.scim(t, 'GET', '/Users?sortBy=emails'), 400, 'invalidValue');
  });
});

describe('attributes / excludedAttributes', () => {
  let u: { id: string } & Record<string, any>;
  beforeAll(async () => {
    u = await createUser(tenant, {
      schemas: [USER, ENT],
      userName: 'proj@example.com',
      displayName: 'Pro J',
      name: { givenName: 'Pro', familyName: 'J' },
      emails: [{ value: 'proj@example.com', type: 'work' }],
      [ENT]: { department: 'Ops', costCenter: 'CC1' },
      password: 'nope-nope',
    });
  });

  it('attributes returns only what was asked plus id (and schemas)', async () => {
    const res = await stack.scim(tenant, 'GET', `/Users/${u.id}?attributes=userName`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['id', 'schemas', 'userName']);
    const sub = await stack.scim(tenant, 'GET', `/Users/${u.id}?attributes=name.givenName,emails.value`);
    expect(sub.body.id).toBe(u.id);
    expect(sub.body.name).toEqual({ givenName: 'Pro' });
    expect(sub.body.emails).toEqual([{ value: 'proj@example.com' }]);
    expect(sub.body.userName).toBeUndefined();
    const ent = await stack.scim(tenant, 'GET', `/Users/${u.id}?attributes=${enc(`${ENT}:department`)}`);
    expect(ent.body[ENT]).toEqual({ department: 'Ops' });
  });

  it('excludedAttributes drops those and never id', async () => {
    const res = await stack.scim(tenant, 'GET', `/Users/${u.id}?excludedAttributes=emails,name.familyName,id,meta`);
    expect(res.body.id).toBe(u.id);
    expect(res.body.emails).toBeUndefined();
    expect(res.body.meta).toBeUndefined();
    expect(res.body.name).toEqual({ givenName: 'Pro' });
    expect(res.body.userName).toBe('proj@example.com');
  });

  it('projection applies to lists and password never appears', async () => {
    const res = await stack.scim(tenant, 'GET', `/Users?filter=${enc('userName eq "proj@example.com"')}&attributes=displayName,password`);
    expect(res.body.totalResults).toBe(1);
    expect(res.body.Resources[0]).toEqual({ schemas: expect.any(Array), id: u.id, displayName: 'Pro J' });
  });
});

describe('filters', () => {
  let t: TestTenant;
  let alice: string;
  let bob: string;
  let carol: string;
  let createdBefore: string;
  beforeAll(async () => {
    t = await stack.createTenant();
    createdBefore = new Date(Date.now() - 60_000).toISOString();
    alice = (
      await createUser(t, {
        schemas: [USER, ENT],
        userName: 'alice@x.com',
        externalId: 'EXT-A',
        displayName: 'Alice',
        title: 'Engineer',
        emails: [
          { value: 'alice@x.com', type: 'work', primary: true },
          { value: 'alice@home.org', type: 'home' },
        ],
        [ENT]: { department: 'Eng', employeeNumber: '100' },
      })
    ).id;
    bob = (
      await createUser(t, {
        schemas: [USER, ENT],
        userName: 'bob@y.org',
        externalId: 'ext-b',
        displayName: 'Bob',
        active: false,
        emails: [{ value: 'bob@y.org', type: 'work' }],
        [ENT]: { department: 'Sales', employeeNumber: '200' },
      })
    ).id;
    carol = (
      await createUser(t, {
        schemas: [USER, ENT],
        userName: 'carol@x.com',
        emails: [{ value: 'carol@x.com', type: 'home' }],
        [ENT]: { department: 'Eng' },
      })
    ).id;
  });
  const ids = (...xs: string[]) => [...xs].sort();

  it('eq is case-insensitive on userName; attribute names and operators are case-insensitive', async () => {
    expect(await filterIds(t, 'userName eq "ALICE@X.COM"')).toEqual([alice]);
    expect(await filterIds(t, 'USERNAME EQ "alice@x.com"')).toEqual([alice]);
    expect(await filterIds(t, 'username Eq "Bob@Y.org"')).toEqual([bob]);
  });

  it('externalId and id compare caseExact', async () => {
    expect(await filterIds(t, 'externalId eq "EXT-A"')).toEqual([alice]);
    expect(await filterIds(t, 'externalId eq "ext-a"')).toEqual([]);
    expect(await filterIds(t, 'externalId eq "EXT-B"')).toEqual([]);
    expect(await filterIds(t, `id eq "${bob}"`)).toEqual([bob]);
    expect(await filterIds(t, `id eq "${bob.toUpperCase()}"`)).toEqual([]);
  });

  it('ne co sw ew', async () => {
    expect(await filterIds(t, 'userName ne "alice@x.com"')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'userName co "@X."')).toEqual(ids(alice, carol));
    expect(await filterIds(t, 'userName sw "BO"')).toEqual([bob]);
    expect(await filterIds(t, 'userName ew ".org"')).toEqual([bob]);
    expect(await filterIds(t, 'userName co "%"')).toEqual([]);
    expect(await filterIds(t, 'userName sw "_"')).toEqual([]);
  });

  it('gt ge lt le on strings', async () => {
    expect(await filterIds(t, 'userName gt "bob@y.org"')).toEqual([carol]);
    expect(await filterIds(t, 'userName ge "bob@y.org"')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'userName lt "bob@y.org"')).toEqual([alice]);
    expect(await filterIds(t, 'userName le "BOB@Y.ORG"')).toEqual(ids(alice, bob));
  });

  it('pr, and booleans', async () => {
    expect(await filterIds(t, 'title pr')).toEqual([alice]);
    expect(await filterIds(t, 'externalId pr')).toEqual(ids(alice, bob));
    expect(await filterIds(t, 'active eq false')).toEqual([bob]);
    expect(await filterIds(t, 'active eq true')).toEqual(ids(alice, carol));
  });

  it('and / or / not / parentheses; and binds tighter than or', async () => {
    expect(await filterIds(t, 'userName sw "c" or userName sw "a" and active eq false')).toEqual([carol]);
    expect(await filterIds(t, '(userName sw "c" or userName sw "a") and active eq false')).toEqual([]);
    expect(await filterIds(t, '(userName sw "a" or userName sw "b") and active eq true')).toEqual([alice]);
    expect(await filterIds(t, 'not (userName sw "a")')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'not(title pr) and not (externalId pr)')).toEqual([carol]);
    expect(await filterIds(t, 'userName eq "alice@x.com" OR userName eq "bob@y.org"')).toEqual(ids(alice, bob));
  });

  it('value filters on emails, also followed by .value', async () => {
    expect(await filterIds(t, 'emails[type eq "work" and value co "@x"]')).toEqual([alice]);
    expect(await filterIds(t, 'emails[type eq "work"]')).toEqual(ids(alice, bob));
    expect(await filterIds(t, 'emails[type eq "work"].value eq "bob@y.org"')).toEqual([bob]);
    expect(await filterIds(t, 'emails[type eq "work"].value eq "carol@x.com"')).toEqual([]);
    expect(await filterIds(t, 'emails.value eq "alice@home.org"')).toEqual([alice]);
    expect(await filterIds(t, 'emails co "@x.com"')).toEqual(ids(alice, carol));
  });

  it('enterprise URN attributes', async () => {
    expect(await filterIds(t, `${ENT}:department eq "Eng"`)).toEqual(ids(alice, carol));
    expect(await filterIds(t, `${ENT}:employeeNumber eq "200"`)).toEqual([bob]);
    expect(await filterIds(t, `${ENT}:employeeNumber pr`)).toEqual(ids(alice, bob));
    expect(await filterIds(t, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "carol@x.com"`)).toEqual([carol]);
  });

  it('meta.lastModified / meta.created comparisons', async () => {
    expect(await filterIds(t, `meta.lastModified gt "${createdBefore}"`)).toEqual(ids(alice, bob, carol));
    expect(await filterIds(t, `meta.lastModified gt "2999-01-01T00:00:00Z"`)).toEqual([]);
    expect(await filterIds(t, `meta.created lt "${createdBefore}"`)).toEqual([]);
  });

  it('ne and not() count an absent attribute as not equal', async () => {
    expect(await filterIds(t, 'title ne "Engineer"')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'not (title eq "Engineer")')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'not (externalId pr)')).toEqual([carol]);
    expect(await filterIds(t, 'displayName ne "Alice"')).toEqual(ids(bob, carol));
    expect(await filterIds(t, 'title eq null')).toEqual(ids(bob, carol));
  });

  it('sub-attribute paths without a value filter, and meta.resourceType', async () => {
    expect(await filterIds(t, 'emails.type eq "home"')).toEqual(ids(alice, carol));
    expect(await filterIds(t, 'emails.value ew "@y.org"')).toEqual([bob]);
    expect(await filterIds(t, 'emails pr')).toEqual(ids(alice, bob, carol));
    expect(await filterIds(t, 'phoneNumbers pr')).toEqual([]);
    expect(await filterIds(t, 'meta.resourceType eq "User"')).toEqual(ids(alice, bob, carol));
    expect(await filterIds(t, `emails[type eq "work" or type eq "home"].value sw "alice"`)).toEqual([alice]);
    expect(await filterIds(t, `emails[not (type eq "work")]`)).toEqual(ids(alice, carol));
  });

  it('no match is 200 with totalResults 0, never 404', async () => {
    const res = await stack.scim(t, 'GET', `/Users?filter=${enc('userName eq "ghost@nowhere"')}`);
    expect(res.status).toBe(200);
    expect(res.body.totalResults).toBe(0);
    expect(res.body.Resources ?? []).toEqual([]);
  });

  it('filters never see another tenant', async () => {
    expect(await filterIds(tenant, 'userName eq "alice@x.com"')).toEqual([]);
  });

  it.each([
    'userName eq',
    'userName xx "a"',
    '(userName eq "a"',
    'userName eq "a")',
    'userName eq "unterminated',
    'and',
    'emails[type eq "work"',
    'userName eq "a" and',
    'nosuchattribute eq "x"',
    'userName eq a b',
  ])('malformed filter %j is 400 invalidFilter', async (filter) => {
    expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`), 400, 'invalidFilter');
  });
});

describe('POST /Users/.search', () => {
  it('takes a SearchRequest body', async () => {
    const t = await stack.createTenant();
    const a = await createUser(t, { userName: 'search-a@example.com', displayName: 'A' });
    await createUser(t, { userName: 'search-b@example.com' });
    const res = await stack.scim(t, 'POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName sw "search-a"',
      attributes: ['displayName'],
      startIndex: 1,
      count: 10,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.body.totalResults).toBe(1);
    expect(res.body.Resources).toEqual([{ schemas: expect.any(Array), id: a.id, displayName: 'A' }]);
    const all = await stack.scim(t, 'POST', '/Users/.search', { sortBy: 'userName', sortOrder: 'descending' });
    expect(all.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(['search-b@example.com', 'search-a@example.com']);
    expectScimError(await stack.scim(t, 'POST', '/Users/.search', { filter: 'userName eq' }), 400, 'invalidFilter');
  });
});

describe('PUT /Users/:id', () => {
  it('replaces writable attributes, ignores read-only ones, bumps version', async () => {
    const t = await stack.createTenant();
    const u = await createUser(t, {
      userName: 'put@example.com',
      displayName: 'Before',
      title: 'Old title',
      emails: [{ value: 'put@example.com', type: 'work' }],
    });
    const before = await writeCounts(t);
    const res = await stack.scim(t, 'PUT', `/Users/${u.id}`, {
      schemas: [USER],
      id: 'ignored-id',
      meta: { version: 'W/"99"' },
      userName: 'put2@example.com',
      displayName: 'After',
      emails: [{ value: 'put2@example.com', type: 'home' }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.body.id).toBe(u.id);
    expect(res.body.userName).toBe('put2@example.com');
    expect(res.body.displayName).toBe('After');
    expect(res.body.title).toBeUndefined();
    expect(res.body.emails).toEqual([{ value: 'put2@example.com', type: 'home' }]);
    expect(res.body.meta.version).not.toBe(u.meta.version);
    expect(res.headers.get('etag')).toBe(res.body.meta.version);
    expect(res.body.meta.created).toBe(u.meta.created);
    expect(await writeCounts(t)).toEqual({ audit: before.audit + 1, outbox: before.outbox + 1 });
    expect((await stack.scim(t, 'GET', `/Users/${u.id}`)).body).toEqual(res.body);
  });

  it('a PUT that leaves out active keeps the user suspended; one that says active: true reactivates', async () => {
    const t = await stack.createTenant();
    const u = await createUser(t, { userName: 'put-active@example.com', displayName: 'A' });
    const off = await stack.scim(t, 'PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(off.body.active).toBe(false);
    const rename = await stack.scim(t, 'PUT', `/Users/${u.id}`, { schemas: [USER], userName: 'put-active@example.com', displayName: 'B' });
    expect(rename.status).toBe(200);
    expect(rename.body.displayName).toBe('B');
    expect(rename.body.active).toBe(false);
    const back = await stack.scim(t, 'PUT', `/Users/${u.id}`, { schemas: [USER], userName: 'put-active@example.com', displayName: 'B', active: true });
    expect(back.body.active).toBe(true);
  });

  it('PUT on an unknown id is 404', async () => {
    expectScimError(await stack.scim(tenant, 'PUT', '/Users/6f1c1f6e-5b0e-4a43-9a4e-0b7b6a1f0001', { userName: 'x' }), 404);
  });
});

describe('the audit trail of a user write', () => {
  const Audit = z.object({ action: z.string(), actor_type: z.string(), data: z.record(z.unknown()) });
  const auditOf = (t: TestTenant, id: string) =>
    stack.owner.any(sql.type(Audit)`SELECT action, actor_type, data FROM audit_events WHERE tenant_id = ${t.id} AND target_id = ${id} ORDER BY id`);
  const open = (t: TestTenant, sealed: unknown) => withTenant(stack.owner, t.id, (tx) => openPersonalData(tx, t.id, SealedPersonalData.parse(sealed)));

  it('records what changed, with the values sealed under the identity key, next to the stream event', async () => {
    const t = await stack.createTenant();
    const u = await createUser(t, { userName: 'audited@example.com', displayName: 'Before' });
    const res = await stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'After' }, { op: 'replace', path: 'active', value: false }));
    expect(res.status).toBe(200);
    const last = (await auditOf(t, u.id)).at(-1)!;
    expect(last).toMatchObject({ action: 'user.deactivated', actor_type: 'scim', data: { changed: expect.arrayContaining(['displayName', 'active']) as unknown } });
    expect(await open(t, last.data.personal)).toEqual({ before: { displayName: 'Before', active: true }, after: { displayName: 'After', active: false } });
    const events = await stack.owner.any(sql.type(z.object({ seq: z.number(), event_type: z.string() }))`
      SELECT seq, event_type FROM outbox WHERE stream_id = ${u.id} ORDER BY seq`);
    expect(events).toEqual([{ seq: 1, event_type: 'user.created' }, { seq: 2, event_type: 'user.deactivated' }]);
  });

  it('creates the identity key on the first write of a user that has none (loaded outside SCIM)', async () => {
    const t = await stack.createTenant();
    const id = await stack.owner.oneFirst(sql.type(z.object({ id: z.string() }))`
      INSERT INTO users (tenant_id, user_name, user_name_key) VALUES (${t.id}, 'keyless@example.com', 'keyless@example.com') RETURNING id::text`);
    const res = await stack.scim(t, 'PUT', `/Users/${id}`, { schemas: [USER], userName: 'keyless@example.com', displayName: 'Now named' });
    expect(res.status).toBe(200);
    const last = (await auditOf(t, id)).at(-1)!;
    expect(last.action).toBe('user.updated');
    expect(await open(t, last.data.personal)).toEqual({ before: { displayName: null }, after: { displayName: 'Now named' } });
  });
});

describe('PATCH /Users/:id', () => {
  let t: TestTenant;
  beforeAll(async () => {
    t = await stack.createTenant();
  });
  const patch = (id: string, ...ops: unknown[]) => stack.scim(t, 'PATCH', `/Users/${id}`, patchBody(...ops));

  it('add / replace / remove of simple attributes', async () => {
    const u = await createUser(t, { userName: 'patch1@example.com' });
    let res = await patch(u.id, { op: 'add', path: 'title', value: 'Boss' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.body.title).toBe('Boss');
    res = await patch(u.id, { op: 'replace', path: 'displayName', value: 'Pat' }, { op: 'replace', path: 'name.givenName', value: 'P' });
    expect(res.body).toMatchObject({ title: 'Boss', displayName: 'Pat', name: { givenName: 'P' } });
    res = await patch(u.id, { op: 'remove', path: 'title' });
    expect(res.body.title).toBeUndefined();
    expect(res.body.displayName).toBe('Pat');
    expect(res.headers.get('etag')).toBe(res.body.meta.version);
    expect((await stack.scim(t, 'GET', `/Users/${u.id}`)).body).toEqual(res.body);
  });

  it('no-path add / replace take an object of attributes', async () => {
    const u = await createUser(t, { userName: 'patch2@example.com', displayName: 'X' });
    const res = await patch(u.id, { op: 'replace', value: { displayName: 'Y', nickName: 'y', name: { familyName: 'F' } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ displayName: 'Y', nickName: 'y', name: { familyName: 'F' } });
    const add = await patch(u.id, { op: 'add', value: { title: 'T' } });
    expect(add.body).toMatchObject({ displayName: 'Y', title: 'T' });
  });

  it('paths with URN prefixes (enterprise and core)', async () => {
    const u = await createUser(t, { userName: 'patch3@example.com' });
    let res = await patch(
      u.id,
      { op: 'add', path: `${ENT}:department`, value: 'Finance' },
      { op: 'add', path: `${ENT}:manager`, value: { value: 'mgr-1' } },
      { op: 'replace', path: `${USER}:displayName`, value: 'URN' },
    );
    expect(res.status).toBe(200);
    expect(res.body[ENT]).toEqual({ department: 'Finance', manager: { value: 'mgr-1' } });
    expect(res.body.schemas).toContain(ENT);
    expect(res.body.displayName).toBe('URN');
    res = await patch(u.id, { op: 'replace', path: `${ENT}:manager.value`, value: 'mgr-2' });
    expect(res.body[ENT].manager).toEqual({ value: 'mgr-2' });
    res = await patch(u.id, { op: 'remove', path: `${ENT}:department` });
    expect(res.body[ENT]).toEqual({ manager: { value: 'mgr-2' } });
  });

  it('value-filtered paths on emails', async () => {
    const u = await createUser(t, {
      userName: 'patch4@example.com',
      emails: [
        { value: 'w@example.com', type: 'work', primary: true },
        { value: 'h@example.com', type: 'home' },
      ],
    });
    let res = await patch(u.id, { op: 'replace', path: 'emails[type eq "work"].value', value: 'w2@example.com' });
    expect(res.status).toBe(200);
    expect(res.body.emails).toEqual([
      { value: 'w2@example.com', type: 'work', primary: true },
      { value: 'h@example.com', type: 'home' },
    ]);
    res = await patch(u.id, { op: 'remove', path: 'emails[type eq "home"]' });
    expect(res.body.emails).toEqual([{ value: 'w2@example.com', type: 'work', primary: true }]);
    res = await patch(u.id, { op: 'add', path: 'emails', value: [{ value: 'o@example.com', type: 'other', primary: true }] });
    // a newly primary value takes primary away from the others
    expect(res.body.emails).toEqual([
      { value: 'w2@example.com', type: 'work', primary: false },
      { value: 'o@example.com', type: 'other', primary: true },
    ]);
    res = await patch(u.id, { op: 'remove', path: 'emails[value eq "nothing@there"]' });
    expect(res.status).toBe(200);
    expect(res.body.emails).toHaveLength(2);
  });

  it('add of a value already present is a no-op success that writes nothing', async () => {
    const u = await createUser(t, { userName: 'patch5@example.com', emails: [{ value: 'a@example.com', type: 'work' }] });
    const before = await writeCounts(t);
    const res = await patch(u.id, { op: 'add', path: 'emails', value: [{ value: 'a@example.com', type: 'work' }] });
    expect(res.status).toBe(200);
    expect(res.body.emails).toEqual([{ value: 'a@example.com', type: 'work' }]);
    expect(res.body.meta.version).toBe(u.meta.version);
    expect(await writeCounts(t)).toEqual(before);
  });

  it('each PATCH write leaves one audit row and one outbox row; deactivation is user.deactivated', async () => {
    const u = await createUser(t, { userName: 'patch6@example.com' });
    const before = await writeCounts(t);
    const res = await patch(u.id, { op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'title', value: 'gone' });
    expect(res.body.active).toBe(false);
    expect(await writeCounts(t)).toEqual({ audit: before.audit + 1, outbox: before.outbox + 1 });
    const types = await stack.owner.anyFirst(
      sql.unsafe`SELECT event_type FROM outbox WHERE stream_id = ${u.id} ORDER BY seq`,
    );
    expect(types).toEqual(['user.created', 'user.deactivated']);
  });

  it('remove without a path is 400 noTarget; ops are atomic', async () => {
    const u = await createUser(t, { userName: 'patch7@example.com', displayName: 'Keep' });
    const before = await writeCounts(t);
    expectScimError(await patch(u.id, { op: 'remove' }), 400, 'noTarget');
    expectScimError(await patch(u.id, { op: 'replace', path: 'displayName', value: 'Lost' }, { op: 'remove' }), 400, 'noTarget');
    expectScimError(
      await patch(u.id, { op: 'replace', path: 'displayName', value: 'Lost' }, { op: 'replace', path: 'active', value: 'maybe' }),
      400,
      'invalidValue',
    );
    expectScimError(await patch(u.id, { op: 'jump', path: 'displayName', value: 'x' }), 400);
    expectScimError(await patch(u.id, { op: 'replace', path: 'emails[type eq', value: 'x' }), 400, 'invalidPath');
    expectScimError(await stack.scim(t, 'PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP] }), 400, 'invalidSyntax');
    const got = await stack.scim(t, 'GET', `/Users/${u.id}`);
    expect(got.body.displayName).toBe('Keep');
    expect(got.body.meta.version).toBe(u.meta.version);
    expect(await writeCounts(t)).toEqual(before);
  });

  it('remove active (or active null) is 400 mutability and leaves a deactivated user deactivated', async () => {
    const u = await createUser(t, { userName: 'patch9@example.com', active: false });
    const before = await writeCounts(t);
    expectScimError(await patch(u.id, { op: 'remove', path: 'active' }), 400, 'mutability');
    expectScimError(await patch(u.id, { op: 'Remove', path: `${USER}:active` }), 400, 'mutability');
    expectScimError(await patch(u.id, { op: 'replace', path: 'active', value: null }), 400, 'mutability');
    expectScimError(await patch(u.id, { op: 'replace', value: { active: null } }), 400, 'mutability');
    const got = await stack.scim(t, 'GET', `/Users/${u.id}`);
    expect(got.body.active).toBe(false);
    expect(got.body.meta.version).toBe(u.meta.version);
    expect(await writeCounts(t)).toEqual(before);
    const types = await stack.owner.anyFirst(sql.unsafe`SELECT event_type FROM outbox WHERE stream_id = ${u.id} ORDER BY seq`);
    expect(types).toEqual(['user.created']);
  });

  it('the enterprise extension sent whole with its own schemas (no path, URN path, and in POST / PUT)', async () => {
    const ext = (body: Record<string, unknown>) => ({ schemas: [ENT], ...body });
    const u = await createUser(t, { schemas: [USER, ENT], userName: 'patch10@example.com', [ENT]: ext({ department: 'Ops' }) });
    expect(u[ENT]).toEqual({ department: 'Ops' });
    let res = await patch(u.id, { op: 'add', value: { [ENT]: ext({ costCenter: 'CC-1' }) } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body[ENT]).toEqual({ department: 'Ops', costCenter: 'CC-1' });
    res = await patch(u.id, { op: 'replace', value: { schemas: [USER, ENT], title: 'T', [ENT]: ext({ division: 'R&D' }) } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ title: 'T', [ENT]: { department: 'Ops', costCenter: 'CC-1', division: 'R&D' } });
    res = await patch(u.id, { op: 'replace', path: ENT, value: ext({ department: 'Finance' }) });
    expect(res.body[ENT]).toEqual({ department: 'Finance', costCenter: 'CC-1', division: 'R&D' });
    const put = await stack.scim(t, 'PUT', `/Users/${u.id}`, { schemas: [USER, ENT], userName: 'patch10@example.com', [ENT]: ext({ organization: 'Org' }) });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body[ENT]).toEqual({ organization: 'Org' });
    expect((await stack.scim(t, 'GET', `/Users/${u.id}`)).body[ENT]).toEqual({ organization: 'Org' });
  });

  it('read-only attributes cannot be patched into place', async () => {
    const u = await createUser(t, { userName: 'patch8@example.com' });
    const res = await patch(u.id, { op: 'replace', path: 'id', value: '00000000-0000-4000-8000-000000000000' });
    expect(res.status).toBeGreaterThanOrEqual(200);
    const got = await stack.scim(t, 'GET', `/Users/${u.id}`);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(u.id);
  });

  it('PATCH on an unknown id is 404', async () => {
    expectScimError(await patch('6f1c1f6e-5b0e-4a43-9a4e-0b7b6a1f0002', { op: 'replace', path: 'title', value: 'x' }), 404);
  });
});

describe('ETags', () => {
  it('If-Match mismatch is 412 and changes nothing; * and the current tag succeed; If-None-Match gives 304', async () => {
    const t = await stack.createTenant();
    const u = await createUser(t, { userName: 'etag@example.com', displayName: 'E0' });
    const v1 = u.meta.version;
    const before = await writeCounts(t);

    const stale = 'W/"999"';
    expectScimError(
      await stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'E1' }), { 'if-match': stale }),
      412,
    );
    expectScimError(await stack.scim(t, 'PUT', `/Users/${u.id}`, { userName: 'etag@example.com', displayName: 'E1' }, { 'if-match': stale }), 412);
    expectScimError(await stack.scim(t, 'DELETE', `/Users/${u.id}`, undefined, { 'if-match': stale }), 412);
    const unchanged = await stack.scim(t, 'GET', `/Users/${u.id}`);
    expect(unchanged.body.displayName).toBe('E0');
    expect(unchanged.body.meta.version).toBe(v1);
    expect(await writeCounts(t)).toEqual(before);

    const withCurrent = await stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'E1' }), {
      'if-match': v1,
    });
    expect(withCurrent.status).toBe(200);
    const v2 = withCurrent.headers.get('etag')!;
    expect(v2).not.toBe(v1);
    const strongForm = await stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'E2' }), {
      'if-match': v2.replace(/^W\//, ''),
    });
    expect(strongForm.status).toBe(200);
    const star = await stack.scim(t, 'PUT', `/Users/${u.id}`, { userName: 'etag@example.com', displayName: 'E3' }, { 'if-match': '*' });
    expect(star.status).toBe(200);
    expect(star.body.displayName).toBe('E3');
    const v4 = star.headers.get('etag')!;

    const nm = await stack.scim(t, 'GET', `/Users/${u.id}`, undefined, { 'if-none-match': v4 });
    expect(nm.status).toBe(304);
    expect(nm.headers.get('etag')).toBe(v4);
    const changed = await stack.scim(t, 'GET', `/Users/${u.id}`, undefined, { 'if-none-match': v1 });
    expect(changed.status).toBe(200);
    expect(changed.body.displayName).toBe('E3');
  });
});

describe('DELETE /Users/:id', () => {
  it('204, then GET 404, DELETE again 404; one audit and one outbox row; gone from lists', async () => {
    const t = await stack.createTenant();
    const u = await createUser(t, { userName: 'del@example.com' });
    const before = await writeCounts(t);
    const del = await stack.scim(t, 'DELETE', `/Users/${u.id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expect(await writeCounts(t)).toEqual({ audit: before.audit + 1, outbox: before.outbox + 1 });
    expectScimError(await stack.scim(t, 'GET', `/Users/${u.id}`), 404);
    expectScimError(await stack.scim(t, 'DELETE', `/Users/${u.id}`), 404);
    expectScimError(await stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'title', value: 'x' })), 404);
    expect(await filterIds(t, 'userName eq "del@example.com"')).toEqual([]);
    expect(await writeCounts(t)).toEqual({ audit: before.audit + 1, outbox: before.outbox + 1 });
  });

  it('another tenant cannot read, change or delete my user', async () => {
    const a = await stack.createTenant();
    const b = await stack.createTenant();
    const u = await createUser(a, { userName: 'mine@example.com' });
    expectScimError(await stack.scim(b, 'GET', `/Users/${u.id}`), 404);
    expectScimError(await stack.scim(b, 'PUT', `/Users/${u.id}`, { userName: 'stolen' }), 404);
    expectScimError(await stack.scim(b, 'DELETE', `/Users/${u.id}`), 404);
    expect((await stack.scim(a, 'GET', `/Users/${u.id}`)).body.userName).toBe('mine@example.com');
  });
});

describe('user writes that overlap (PATCH and PUT take no transaction unless they must)', () => {
  let t: TestTenant;
  beforeAll(async () => {
    t = await stack.createTenant();
  });

  it('20 concurrent PATCHes of one user, each adding an email: all 20 kept, 20 events in order, version +20', async () => {
    const u = await createUser(t, { userName: 'overlap@example.com' });
    const emails = Array.from({ length: 20 }, (_, i) => `e${i}@example.com`);
    const answers = await Promise.all(
      emails.map((value) => stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'add', path: 'emails', value: [{ value, type: 'work' }] }))),
    );
    expect(answers.map((r) => r.status)).toEqual(emails.map(() => 200));
    const now = await stack.scim(t, 'GET', `/Users/${u.id}`);
    expect((now.body.emails as { value: string }[]).map((e) => e.value).sort()).toEqual([...emails].sort());
    expect(now.body.meta.version).toBe('W/"21"');
    const seqs = await stack.owner.anyFirst(sql.unsafe`
      SELECT seq::int FROM outbox WHERE stream_type = 'user' AND stream_id = ${u.id} ORDER BY seq`);
    expect(seqs).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(await stack.owner.oneFirst(sql.unsafe`
      SELECT count(*)::int FROM audit_events WHERE target_id = ${u.id} AND action = 'user.updated'`)).toBe(20);
  });

  it('a PATCH whose user changes between its read and its write is applied on top of that change', async () => {
    const u = await createUser(t, { userName: 'moved-on@example.com', title: 'Engineer' });
    // Another writer has changed the user and holds its row lock, not yet committed.
    const other = new pg.Client({ connectionString: stack.databaseUrl });
    await other.connect();
    let res: Awaited<ReturnType<typeof stack.scim>> | undefined;
    try {
      await other.query('BEGIN');
      await other.query(
        `UPDATE users SET display_name = 'Set Elsewhere', version = version + 1, event_seq = event_seq + 1 WHERE id = $1`,
        [u.id],
      );
      await other.query(`INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload)
                         SELECT tenant_id, 'user', id, event_seq, 'user.updated', '{}' FROM users WHERE id = $1`, [u.id]);
      const pending = stack.scim(t, 'PATCH', `/Users/${u.id}`, patchBody({ op: 'replace', path: 'title', value: 'Manager' }));
      // The PATCH read the user without a lock and now waits in its conditional write.
      await eventually(async () =>
        Number(await stack.owner.oneFirst(sql.unsafe`
          SELECT count(*)::int FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%scim_update_user%'`)) > 0,
      );
      await other.query('COMMIT');
      res = await pending;
    } finally {
      await other.end();
    }
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ title: 'Manager', displayName: 'Set Elsewhere', meta: { version: 'W/"3"' } });
    const seqs = await stack.owner.anyFirst(sql.unsafe`
      SELECT seq::int FROM outbox WHERE stream_type = 'user' AND stream_id = ${u.id} ORDER BY seq`);
    expect(seqs).toEqual([1, 2, 3]);
  });
});
