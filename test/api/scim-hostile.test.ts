import { gzipSync } from 'node:zlib';
import { sql } from 'slonik';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { ENT, PATCH_OP, USER, enc, expectScimError, patchBody } from '../helpers/scim.js';

/**
 * Hostile input: each request gets the right SCIM error (never a 500), changes nothing in the
 * database, and the process stays healthy afterwards.
 */


let stack: TestStack;
let t: TestTenant;
let userId: string;
let groupId: string;
const EXISTING = 'alice@example.com';

beforeAll(async () => {
  stack = await startStack();
  t = await stack.createTenant();
  const u = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: EXISTING, displayName: 'Alice' });
  expect(u.status).toBe(201);
  userId = u.body.id;
  const g = await stack.scim(t, 'POST', '/Groups', { displayName: 'Hostile Group', members: [{ value: userId }] });
  expect(g.status).toBe(201);
  groupId = g.body.id;
});
afterAll(async () => stack?.close());



async function snapshot(s: TestStack, tenant: TestTenant) {
  const q = async (table: string) =>
    Number(await s.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM ${sql.identifier([table])} WHERE tenant_id = ${tenant.id}`));
  const versions = await s.owner.anyFirst(
    sql.unsafe`SELECT version::text FROM users WHERE tenant_id = ${tenant.id} UNION ALL SELECT version::text FROM groups WHERE tenant_id = ${tenant.id}`,
  );
  return {
    users: await q('users'),
    groups: await q('groups'),
    members: await q('group_members'),
    unresolved: await q('unresolved_members'),
    audit: await q('audit_events'),
    outbox: await q('outbox'),
    versions: [...versions].sort().join(','),
  };
}

async function expectHealthy(s: TestStack) {
  const res = await fetch(`${s.url}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
}

/** Runs hostile requests and checks: nothing in the DB changed, process healthy. */
async function unchanged(fn: () => Promise<void>, s: TestStack = stack, tenant: TestTenant = t) {
  const before = await snapshot(s, tenant);
  await fn();
  expect(await snapshot(s, tenant)).toEqual(before);
  await expectHealthy(s);
}

afterEach(async () => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
});

const nest = (depth: number, open: string, close: string, inner: string) => open.repeat(depth) + inner + close.repeat(depth);

describe('body size', () => {
  let small: TestStack;
  let st: TestTenant;
  beforeAll(async () => {
    small = await startStack({ env: { SCIM_MAX_BODY_BYTES: '2048', SCIM_MAX_PAGE_SIZE: '5' } });
    st = await small.createTenant();
    for (let i = 0; i < 8; i++) expect((await small.scim(st, 'POST', '/Users', { userName: `small-${i}` })).status).toBe(201);
  });
  afterAll(async () => small?.close());

  it('a body over the limit is 413', async () => {
    await unchanged(
      async () => {
        expectScimError(await small.scim(st, 'POST', '/Users', { userName: 'big', title: 'x'.repeat(4096) }), 413);
        expectScimError(
          await small.scim(st, 'POST', '/Users/.search', { filter: `userName eq "${'y'.repeat(3000)}"` }),
          413,
        );
      },
      small,
      st,
    );
  });

  it('a gzip bomb is measured after inflating: 413', async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ userName: 'bomb', title: '0'.repeat(5_000_000) })));
    expect(bomb.length).toBeLessThan(2048 * 4);
    await unchanged(
      async () => {
        const res = await fetch(`${small.scimUrl}/Users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${st.token}`, 'content-type': 'application/scim+json', 'content-encoding': 'gzip' },
          body: bomb,
        });
        const body = await res.json();
        expectScimError({ status: res.status, headers: res.headers, body }, 413);
      },
      small,
      st,
    );
  });

  it('count above the max page size is capped (and the cap is advertised)', async () => {
    const res = await small.scim(st, 'GET', '/Users?count=50');
    expect(res.status).toBe(200);
    expect(res.body.totalResults).toBe(8);
    expect(res.body.itemsPerPage).toBe(5);
    expect(res.body.Resources).toHaveLength(5);
    expect((await small.scim(st, 'GET', '/ServiceProviderConfig')).body.filter.maxResults).toBe(5);
    for (let i = 0; i < 3; i++) expect((await small.scim(st, 'POST', '/Groups', { displayName: `small-g${i}` })).status).toBe(201);
    const search = await small.scim(st, 'POST', '/.search', { count: 50 });
    expect(search.status).toBe(200);
    expect(search.body.totalResults).toBe(11);
    expect(search.body.Resources).toHaveLength(5);
    expect(search.body.itemsPerPage).toBe(5);
    const tail = await small.scim(st, 'POST', '/.search', { startIndex: 7, count: 50 });
    expect(tail.body.Resources.map((r: { schemas: string[] }) => r.schemas[0]!.endsWith(':Group'))).toEqual([false, false, true, true, true]);
    expectScimError(await small.scim(st, 'POST', '/.search', { count: 'lots' }), 400, 'invalidValue');
  });
});

describe('deep nesting', () => {
  it('a 10,000-deep nested JSON body is 400, not a crash', async () => {
    await unchanged(async () => {
      const arrays = `{"userName":"deep","title":${nest(10_000, '[', ']', '1')}}`;
      const objects = `{"userName":"deep2","name":${nest(10_000, '{"a":', '}', '1')}}`;
      for (const body of [arrays, objects]) {
        const res = await stack.scim(t, 'POST', '/Users', body);
        expectScimError(res, 400);
        expect(['invalidValue', 'invalidSyntax']).toContain(res.body.scimType);
      }
      const patch = `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","path":"title","value":${nest(10_000, '[', ']', '"x"')}}]}`;
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patch), 400);
      const noPath = `{"Operations":[{"op":"add","value":${nest(10_000, '{"name":', '}', '"x"')}}]}`;
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, noPath), 400);
      const group = `{"displayName":"deep","members":${nest(10_000, '[', ']', '{"value":"x"}')}}`;
      expectScimError(await stack.scim(t, 'POST', '/Groups', group), 400);
    });
  });

  it('a 100k-deep nested filter is 400 invalidFilter', async () => {
    await unchanged(async () => {
      for (const filter of [nest(100_000, '(', ')', 'userName eq "a"'), nest(100_000, 'not(', ')', 'userName eq "a"'), 'emails[' + nest(100_000, '(', ')', 'type eq "work"') + ']']) {
        expectScimError(await stack.scim(t, 'POST', '/Users/.search', { filter }), 400, 'invalidFilter');
        expectScimError(await stack.scim(t, 'POST', '/Groups/.search', { filter }), 400, 'invalidFilter');
      }
      // as much nesting as fits in a URL
      expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(nest(3_000, '(', ')', 'userName eq "a"'))}`), 400, 'invalidFilter');
      expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(nest(40, '(', ')', 'userName eq "a"'))}`), 400, 'invalidFilter');
    });
  });

  it('an over-long filter is 400 invalidFilter', async () => {
    await unchanged(async () => {
      const long = `userName eq "${'a'.repeat(stack.config.SCIM_MAX_FILTER_LENGTH + 10)}"`;
      expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(long)}`), 400, 'invalidFilter');
      const manyOrs = Array.from({ length: 2000 }, (_, i) => `userName eq "u${i}"`).join(' or ');
      expectScimError(await stack.scim(t, 'POST', '/Users/.search', { filter: manyOrs }), 400, 'invalidFilter');
    });
  });

  it('a deeply nested PATCH value filter is 400 invalidPath', async () => {
    await unchanged(async () => {
      const path = `emails[${nest(5_000, '(', ')', 'type eq "work"')}].value`;
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path, value: 'x@example.com' })), 400, 'invalidPath');
      const long = `emails[type eq "${'w'.repeat(10_000)}"].value`;
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path: long, value: 'x@example.com' })), 400, 'invalidPath');
    });
  });
});

describe('control characters and malformed unicode', () => {
  it.each([
    ['NUL', 'nul\u0000name'],
    ['SOH', 'soh\u0001name'],
    ['newline', 'line\nbreak'],
    ['tab', 'tab\tname'],
    ['escape', 'esc\u001b[31mred'],
    ['DEL', 'del\u007fname'],
  ])('%s in userName is 400', async (_label, userName) => {
    await unchanged(async () => {
      expectScimError(await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName }), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PUT', `/Users/${userId}`, { schemas: [USER], userName }), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path: 'userName', value: userName })), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: userName }), 400, 'invalidValue');
    });
  });

  it('NUL anywhere else (other attributes, keys, member ids) is 400, never a database error', async () => {
    await unchanged(async () => {
      for (const body of [
        { userName: 'nul-title', title: 'a\u0000b' },
        { userName: 'nul-email', emails: [{ value: 'a\u0000@example.com', type: 'work' }] },
        { userName: 'nul-ext', [ENT]: { department: '\u0000' } },
        { userName: 'nul-key', 'urn:acme:ext:1.0:User': { 'k\u0000': 'v' } },
        { userName: 'nul-name', name: { givenName: '\u0000' } },
      ]) {
        const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], ...body });
        expectScimError(res, 400);
      }
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'add', path: 'title', value: 'x\u0000' })), 400);
      expectScimError(await stack.scim(t, 'PATCH', `/Groups/${groupId}`, patchBody({ op: 'add', path: 'members', value: [{ value: 'id\u0000' }] })), 400);
    });
  });

  it('NUL and control characters in filters are 400 invalidFilter or no match, never 500', async () => {
    await unchanged(async () => {
      for (const filter of ['userName eq "a\u0000b"', 'title co "\u0000"', 'emails[value sw "\u0000"]', `${ENT}:department eq "\u0000"`, 'externalId eq "\u0001"']) {
        const res = await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`);
        if (res.status === 200) expect(res.body.totalResults).toBe(0);
        else expectScimError(res, 400, 'invalidFilter');
      }
    });
  });

  it('lone UTF-16 surrogates are 400, never a database error', async () => {
    await unchanged(async () => {
      for (const body of ['{"userName":"lone\\ud800"}', '{"userName":"ok-surrogate","title":"\\udc00x"}', '{"userName":"ok2","urn:acme:1.0:User":{"\\ud83d":"v"}}']) {
        expectScimError(await stack.scim(t, 'POST', '/Users', body), 400);
      }
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, '{"Operations":[{"op":"add","path":"nickName","value":"\\ud800"}]}'), 400);
      const res = await stack.scim(t, 'GET', `/Users?filter=${enc('userName eq "')}%ED%A0%80${enc('"')}`);
      expect(res.status).toBeLessThan(500);
    });
  });
});

describe('SQL injection', () => {
  const nasty = [`x'); DROP TABLE users;--`, `' OR '1'='1`, `"; DELETE FROM outbox; --`, `%' OR 1=1 --`, `\\'; SELECT pg_sleep(5); --`, `$$; DROP TABLE groups; $$`];

  it('hostile strings are stored literally and round-trip exactly', async () => {
    for (const [i, value] of nasty.entries()) {
      const created = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: `${value}-${i}`, displayName: value, title: value, externalId: value });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body).toMatchObject({ userName: `${value}-${i}`, displayName: value, title: value, externalId: value });
      const got = await stack.scim(t, 'GET', `/Users/${created.body.id}`);
      expect(got.body.userName).toBe(`${value}-${i}`);
      const found = await stack.scim(t, 'GET', `/Users?filter=${enc(`userName eq ${JSON.stringify(`${value}-${i}`)}`)}`);
      expect(found.body.Resources.map((r: { id: string }) => r.id)).toEqual([created.body.id]);
      const byExt = await stack.scim(t, 'GET', `/Users?filter=${enc(`externalId eq ${JSON.stringify(value)}`)}`);
      expect(byExt.body.Resources.map((r: { id: string }) => r.id)).toEqual([created.body.id]);
      const g = await stack.scim(t, 'POST', '/Groups', { displayName: `${value}-${i}` });
      expect(g.status).toBe(201);
      expect(g.body.displayName).toBe(`${value}-${i}`);
    }
    const tables = await stack.owner.anyFirst(sql.unsafe`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'groups', 'outbox')`);
    expect([...tables].sort()).toEqual(['groups', 'outbox', 'users']);
  });

  it('injection in filters matches nothing extra and changes nothing', async () => {
    // A tenant of its own: the round-trip test above stores these very strings in `t`.
    const clean = await stack.createTenant();
    expect((await stack.scim(clean, 'POST', '/Users', { schemas: [USER], userName: 'plain@example.com' })).status).toBe(201);
    const t = clean;
    await unchanged(async () => {
      for (const filter of [
        `userName eq "x' OR '1'='1"`,
        `userName co "' OR 1=1 --"`,
        `userName sw "%"`,
        `userName ew "_"`,
        `userName co "\\\\"`,
        `userName eq "a\\" or userName pr or \\"b"`,
      ]) {
        const res = await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`);
        expect(res.status, filter).toBe(200);
        expect(res.body.totalResults, filter).toBe(0);
      }
      for (const filter of [`userName eq "a" ; DROP TABLE users`, `userName eq "a" -- comment`, `userName eq 'a'`, `userName) or (1=1`, `1 eq 1`]) {
        expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`), 400, 'invalidFilter');
      }
      for (const sortBy of ['userName; DROP TABLE users', 'userName desc', '1', 'user_name']) {
        expectScimError(await stack.scim(t, 'GET', `/Users?sortBy=${enc(sortBy)}`), 400, 'invalidValue');
      }
    }, stack, clean);
  });

  it('type-confused filter values are 400, never 500', async () => {
    await unchanged(async () => {
      for (const filter of ['meta.lastModified gt "not-a-date"', 'meta.lastModified gt "2024-02-30T00:00:00Z"', 'active eq "maybe"', 'active gt true', 'meta.created gt 5', 'id eq 5']) {
        const res = await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`);
        if (res.status === 200) expect(res.body.totalResults).toBe(0);
        else expectScimError(res, 400, 'invalidFilter');
      }
    });
  });
});

describe('wrong types', () => {
  it.each([
    ['active "maybe"', { userName: 'wt1', active: 'maybe' }],
    ['active number', { userName: 'wt2', active: 1 }],
    ['userName number', { userName: 42 }],
    ['userName object', { userName: { value: 'x' } }],
    ['userName empty', { userName: '   ' }],
    ['userName too long', { userName: 'x'.repeat(300) }],
    ['emails not an array', { userName: 'wt3', emails: 'wt3@example.com' }],
    ['emails number', { userName: 'wt4', emails: 42 }],
    ['email value number', { userName: 'wt5', emails: [{ value: 5 }] }],
    ['two primary emails', { userName: 'wt6', emails: [{ value: 'a@x', primary: true }, { value: 'b@x', primary: true }] }],
    ['name a string', { userName: 'wt7', name: 'Just A String' }],
    ['enterprise not an object', { userName: 'wt8', [ENT]: 'Eng' }],
    ['too many emails', { userName: 'wt9', emails: Array.from({ length: 1001 }, (_, i) => ({ value: `e${i}@x` })) }],
  ])('%s is 400 invalidValue', async (_label, body) => {
    await unchanged(async () => {
      expectScimError(await stack.scim(t, 'POST', '/Users', { schemas: [USER], ...body }), 400, 'invalidValue');
    });
  });

  it('wrong types in PATCH and group bodies are 400', async () => {
    await unchanged(async () => {
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path: 'active', value: 'maybe' })), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', value: { userName: 7 } })), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path: 'emails', value: 'x@example.com' })), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, { Operations: 'replace everything' }), 400, 'invalidSyntax');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, { Operations: [{ op: 'replace', path: 5, value: 'x' }] }), 400);
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, { schemas: ['urn:wrong'], Operations: [{ op: 'add', path: 'title', value: 'x' }] }), 400, 'invalidSyntax');
      expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: 5 }), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: 'bad members', members: [{ display: 'no value' }] }), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: 'bad members 2', members: [{ value: 5 }] }), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'PATCH', `/Groups/${groupId}`, patchBody({ op: 'add', path: 'members', value: [{ value: userId, type: 'Robot' }] })), 400, 'invalidValue');
    });
  });
});

describe('prototype pollution', () => {
  const paths = [
    '__proto__.polluted',
    '__proto__',
    'constructor.prototype.polluted',
    'constructor',
    'toString.polluted',
    'name.__proto__',
    'name.constructor',
    `${ENT}:__proto__.polluted`,
    `${ENT}:manager.__proto__`,
    'emails[type eq "work"].__proto__',
    'emails[__proto__ eq "x"].value',
    'urn:acme:ext:1.0:User:__proto__.polluted',
    '__PROTO__.polluted',
  ];

  it.each(paths)('PATCH path %j is 400 and pollutes nothing', async (path) => {
    await unchanged(async () => {
      for (const op of ['add', 'replace', 'remove']) {
        const res = await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op, path, value: { polluted: 'yes' } }));
        expectScimError(res, 400);
      }
      expectScimError(await stack.scim(t, 'PATCH', `/Groups/${groupId}`, patchBody({ op: 'add', path, value: 'yes' })), 400);
    });
  });

  it('__proto__ / constructor keys in JSON bodies are 400 and pollute nothing', async () => {
    await unchanged(async () => {
      const bodies = [
        '{"userName":"p1","__proto__":{"polluted":"yes"}}',
        '{"userName":"p2","constructor":{"prototype":{"polluted":"yes"}}}',
        '{"userName":"p3","name":{"__proto__":{"polluted":"yes"}}}',
        `{"userName":"p4","${ENT}":{"__proto__":{"polluted":"yes"}}}`,
        '{"userName":"p5","emails":[{"value":"a@x","__proto__":{"polluted":"yes"}}]}',
        '{"userName":"p6","urn:acme:1.0:User":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      ];
      for (const body of bodies) {
        expectScimError(await stack.scim(t, 'POST', '/Users', body), 400, 'invalidValue');
        expectScimError(await stack.scim(t, 'PUT', `/Users/${userId}`, body), 400, 'invalidValue');
      }
      for (const value of ['{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}', '{"name.__proto__":"yes"}', '{"toString":"yes"}']) {
        expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, `{"Operations":[{"op":"replace","value":${value}}]}`), 400);
        expectScimError(await stack.scim(t, 'PATCH', `/Groups/${groupId}`, `{"Operations":[{"op":"replace","value":${value}}]}`), 400);
      }
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, '{"__proto__":{"Operations":[]},"Operations":[{"op":"add","path":"title","__proto__":{"x":1},"value":"t"}]}'), 400);
      expectScimError(await stack.scim(t, 'POST', '/Groups', '{"displayName":"pp","__proto__":{"polluted":"yes"}}'), 400, 'invalidValue');
      expectScimError(await stack.scim(t, 'POST', '/Users/.search', '{"__proto__":{"filter":"userName pr"},"filter":"__proto__ eq \\"x\\""}'), 400);
    });
  });

  it('id and meta cannot be overwritten through PATCH', async () => {
    await unchanged(async () => {
      for (const path of ['id', 'meta', 'meta.version', 'meta.created', 'schemas', 'groups']) {
        expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody({ op: 'replace', path, value: 'x' })), 400);
      }
    });
    const got = await stack.scim(t, 'GET', `/Users/${userId}`);
    expect(got.body.id).toBe(userId);
    expect(got.body.meta.resourceType).toBe('User');
  });

  it('filter attributes naming prototype members are 400 invalidFilter', async () => {
    await unchanged(async () => {
      for (const filter of ['__proto__ eq "x"', 'constructor.prototype pr', 'toString eq "x"', 'emails[__proto__ eq "x"]', 'name.__proto__ pr']) {
        expectScimError(await stack.scim(t, 'GET', `/Users?filter=${enc(filter)}`), 400, 'invalidFilter');
      }
    });
  });
});

describe('limits and malformed requests', () => {
  it('more PATCH operations than the limit is 400', async () => {
    await unchanged(async () => {
      const ops = Array.from({ length: stack.config.SCIM_MAX_PATCH_OPERATIONS + 1 }, (_, i) => ({ op: 'replace', path: 'title', value: `t${i}` }));
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody(...ops)), 400);
      expectScimError(await stack.scim(t, 'PATCH', `/Groups/${groupId}`, patchBody(...ops)), 400);
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, patchBody()), 400, 'invalidSyntax');
    });
  });

  it.each([
    ['truncated', '{"userName":"x"'],
    ['trailing comma', '{"userName":"x",}'],
    ['single quotes', "{'userName':'x'}"],
    ['garbage', 'not json at all'],
    ['NaN', '{"userName":"x","n":NaN}'],
    ['BOM + junk', '\ufeff{"userName"'],
  ])('invalid JSON (%s) is 400 invalidSyntax', async (_label, body) => {
    await unchanged(async () => {
      expectScimError(await stack.scim(t, 'POST', '/Users', body), 400, 'invalidSyntax');
      expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, body), 400, 'invalidSyntax');
      expectScimError(await stack.scim(t, 'POST', '/Groups', body, { 'content-type': 'application/json' }), 400, 'invalidSyntax');
    });
  });

  it('non-object JSON bodies and missing bodies are 400 invalidSyntax', async () => {
    await unchanged(async () => {
      for (const body of ['null', '[]', '"userName"', '42', 'true']) {
        expectScimError(await stack.scim(t, 'POST', '/Users', body), 400, 'invalidSyntax');
        expectScimError(await stack.scim(t, 'PATCH', `/Users/${userId}`, body), 400, 'invalidSyntax');
      }
      const res = await fetch(`${stack.scimUrl}/Users`, { method: 'POST', headers: { authorization: `Bearer ${t.token}` } });
      expectScimError({ status: res.status, headers: res.headers, body: await res.json() }, 400, 'invalidSyntax');
      expectScimError(await stack.scim(t, 'POST', '/Users', '<user><userName>x</userName></user>', { 'content-type': 'application/xml' }), 400);
      expectScimError(await stack.scim(t, 'POST', '/Users', '{"userName":"latin"}', { 'content-type': 'application/json; charset=latin1' }), 415);
    });
  });

  it('the full-width look-alike of an existing userName is 409', async () => {
    await unchanged(async () => {
      expectScimError(await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: 'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ' }), 409, 'uniqueness');
      expectScimError(await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: 'ALICE@EXAMPLE.COM' }), 409, 'uniqueness');
    });
  });

  it('count above the max page size is capped, never an error', async () => {
    for (const count of [String(stack.config.SCIM_MAX_PAGE_SIZE + 1), '1000000', '9007199254740993']) {
      const res = await stack.scim(t, 'GET', `/Users?count=${count}`);
      expect(res.status, count).toBe(200);
      expect(res.body.itemsPerPage).toBeLessThanOrEqual(stack.config.SCIM_MAX_PAGE_SIZE);
    }
  });

  it.each(['abc', '1.5', '1e400', '1e3', '0x10', '', ' ', 'NaN', 'Infinity', '--1'])('startIndex=%j is 400 (or read as absent)', async (value) => {
    const res = await stack.scim(t, 'GET', `/Users?startIndex=${enc(value)}`);
    if (value.trim() === '') {
      expect(res.status).toBeLessThan(500);
    } else {
      expectScimError(res, 400, 'invalidValue');
    }
    const count = await stack.scim(t, 'GET', `/Users?count=${enc(value)}`);
    if (value.trim() === '') expect(count.status).toBeLessThan(500);
    else expectScimError(count, 400, 'invalidValue');
  });

  it('huge startIndex values give an empty page, not a database error', async () => {
    for (const value of ['2147483648', '9223372036854775807', '99999999999999999999']) {
      const res = await stack.scim(t, 'GET', `/Users?startIndex=${value}&count=10`);
      expect(res.status, `${value}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body.Resources ?? []).toEqual([]);
      expect(Number.isSafeInteger(res.body.startIndex)).toBe(true);
      const groups = await stack.scim(t, 'GET', `/Groups?startIndex=${value}`);
      expect(groups.status, value).toBe(200);
      const root = await stack.scim(t, 'POST', '/.search', { startIndex: Number(value), count: 10 });
      expect(root.status, value).toBe(200);
    }
    await expectHealthy(stack);
  });

  it('repeated query parameters are handled, not 500', async () => {
    const res = await stack.scim(t, 'GET', `/Users?filter=${enc('userName pr')}&filter=${enc('title pr')}`);
    expect(res.status).toBe(400);
    const counts = await stack.scim(t, 'GET', '/Users?count=1&count=2&startIndex=1&startIndex=2');
    expect(counts.status).toBeLessThan(500);
    const sort = await stack.scim(t, 'GET', '/Users?sortBy=userName&sortBy=title');
    expect(sort.status).toBeLessThan(500);
  });

  it('very long and odd ids in the URL are 404', async () => {
    for (const id of ['x'.repeat(5000), '..%2F..%2Fetc%2Fpasswd', `${userId}%00`, `${userId}'--`]) {
      expectScimError(await stack.scim(t, 'GET', `/Users/${id}`), 404);
    }
    await expectHealthy(stack);
  });
});
