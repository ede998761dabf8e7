import { afterEach, describe, expect, it } from 'vitest';
import type { ScimType } from '../../core/errors.js';
import { applyGroupPatch, applyUserPatch, parsePatchRequest, parsePath } from '../../core/scim/patch.js';
import { normalizeUserInput, type ScimGroup, type ScimUser } from '../../core/scim/resource.js';
import { URN } from '../../core/scim/schema.js';
import { thrownScimError } from '../helpers/scim.js';

const ENT = URN.enterprise;

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** The stored user every case starts from; frozen, so any mutation of the input throws. */
const baseUser: ScimUser = deepFreeze(
  normalizeUserInput({
    userName: 'ada@example.com',
    externalId: 'ext-ada',
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    displayName: 'Ada Lovelace',
    active: true,
    emails: [
      { value: 'ada@example.com', type: 'work', primary: true },
      { value: 'ada@home.example', type: 'home' },
    ],
    phoneNumbers: [{ value: '+44 1', type: 'mobile' }],
    [ENT]: { employeeNumber: '1', department: 'Math', manager: { value: 'babbage' } },
  }),
);

const body = (operations: unknown[]) => ({ schemas: [URN.patchOp], Operations: operations });
const parse = (operations: unknown[]) => parsePatchRequest(body(operations), { maxOperations: 100 });
const patchUser = (operations: unknown[], user: ScimUser = baseUser) => applyUserPatch(user, parse(operations));

const scimError = thrownScimError;

afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
});

describe('applyUserPatch: accepted operations', () => {
  const cases: { name: string; ops: unknown[]; expect: (u: ScimUser) => void; changed?: boolean }[] = [
    {
      name: 'Entra capitalised ops: Add, Replace, Remove',
      ops: [
        { op: 'Add', path: 'title', value: 'Countess' },
        { op: 'Replace', path: 'displayName', value: 'A. Lovelace' },
        { op: 'Remove', path: 'phoneNumbers' },
      ],
      expect: (u) => {
        expect(u.title).toBe('Countess');
        expect(u.displayName).toBe('A. Lovelace');
        expect(u.phoneNumbers).toBeUndefined();
      },
    },
    {
      name: 'Entra deactivation: Replace active "False"',
      ops: [{ op: 'Replace', path: 'active', value: 'False' }],
      expect: (u) => expect(u.active).toBe(false),
    },
    {
      name: 'Okta deactivation: no-path replace {active:false}',
      ops: [{ op: 'replace', value: { active: false } }],
      expect: (u) => expect(u.active).toBe(false),
    },
    {
      name: 'Entra (aadOptscim062020) no-path replace with dotted and URN keys',
      ops: [
        {
          op: 'Replace',
          value: {
            'name.givenName': 'Augusta',
            'name.familyName': 'King',
            [`${ENT}:employeeNumber`]: '42',
            [`${ENT}:manager`]: 'somerville',
            active: 'True',
            displayName: 'Augusta King',
          },
        },
      ],
      expect: (u) => {
        expect(u.name).toEqual({ givenName: 'Augusta', familyName: 'King' });
        expect(u[ENT]).toEqual({ employeeNumber: '42', department: 'Math', manager: { value: 'somerville' } });
        expect(u.displayName).toBe('Augusta King');
      },
    },
    {
      name: 'no-path replace of the whole enterprise extension merges its attributes',
      ops: [{ op: 'replace', value: { [ENT]: { costCenter: 'CC', Department: 'Eng' } } }],
      expect: (u) => expect(u[ENT]).toMatchObject({ costCenter: 'CC', department: 'Eng', employeeNumber: '1' }),
    },
    {
      name: 'Replace emails[type eq "work"].value updates the work email',
      ops: [{ op: 'Replace', path: 'emails[type eq "work"].value', value: 'ada@new.example' }],
      expect: (u) => expect(u.emails?.[0]).toEqual({ value: 'ada@new.example', type: 'work', primary: true }),
    },
    {
      name: 'Replace emails[type eq "other"].value with no such email adds it (Entra)',
      ops: [{ op: 'Replace', path: 'emails[type eq "other"].value', value: 'o@example.com' }],
      expect: (u) => {
        expect(u.emails).toHaveLength(3);
        expect(u.emails?.[2]).toEqual({ type: 'other', value: 'o@example.com' });
      },
    },
    {
      name: 'Replace on a missing work email when the user has no emails at all adds it',
      ops: [
        { op: 'remove', path: 'emails' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'w@example.com' },
      ],
      expect: (u) => expect(u.emails).toEqual([{ type: 'work', value: 'w@example.com' }]),
    },
    {
      name: 'core-URN-prefixed path urn:…:core:2.0:User:userName',
      ops: [{ op: 'replace', path: `${URN.user}:userName`, value: 'countess@example.com' }],
      expect: (u) => expect(u.userName).toBe('countess@example.com'),
    },
    {
      name: 'attribute names in any case',
      ops: [{ op: 'REPLACE', path: 'NAME.GIVENNAME', value: 'A' }, { op: 'add', path: 'Emails', value: [{ Value: 'x@y', Type: 'other' }] }],
      expect: (u) => {
        expect(u.name?.givenName).toBe('A');
        expect(u.emails?.[2]).toEqual({ value: 'x@y', type: 'other' });
      },
    },
    {
      name: 'add of a value already present is a no-op (changed=false)',
      ops: [{ op: 'add', path: 'emails', value: [{ value: 'ada@home.example', type: 'home' }] }],
      expect: (u) => expect(u.emails).toHaveLength(2),
      changed: false,
    },
    {
      name: 'JumpCloud repeats the same add: one copy',
      ops: [
        { op: 'add', path: 'roles', value: [{ value: 'admin' }] },
        { op: 'add', path: 'roles', value: [{ value: 'admin' }] },
        { op: 'add', value: { roles: [{ value: 'admin' }] } },
      ],
      expect: (u) => expect(u.roles).toEqual([{ value: 'admin' }]),
    },
    {
      name: 'add to a single-valued attribute sets it',
      ops: [{ op: 'add', path: 'nickName', value: 'Enchantress' }],
      expect: (u) => expect(u.nickName).toBe('Enchantress'),
    },
    {
      name: 'add / replace of a complex attribute merge sub-attributes',
      ops: [{ op: 'add', path: 'name', value: { middleName: 'King' } }, { op: 'replace', path: 'name', value: { givenName: 'Augusta' } }],
      expect: (u) => expect(u.name).toEqual({ givenName: 'Augusta', middleName: 'King', familyName: 'Lovelace' }),
    },
    {
      name: 'a new primary value clears primary on the others (RFC 7643 §2.4)',
      ops: [{ op: 'add', path: 'emails', value: [{ value: 'new@example.com', type: 'other', primary: 'True' }] }],
      expect: (u) => {
        expect(u.emails?.filter((e) => e.primary === true).map((e) => e.value)).toEqual(['new@example.com']);
        expect(u.emails?.[0]?.primary).toBe(false);
      },
    },
    {
      name: 'setting primary through a filter moves it',
      ops: [{ op: 'replace', path: 'emails[type eq "home"].primary', value: true }],
      expect: (u) => expect(u.emails?.map((e) => e.primary)).toEqual([false, true]),
    },
    {
      name: 'replace with a filter and no sub-attribute replaces the matching values',
      ops: [{ op: 'replace', path: 'emails[type eq "home"]', value: { value: 'h2@example.com', type: 'home' } }],
      expect: (u) => expect(u.emails?.[1]).toEqual({ value: 'h2@example.com', type: 'home' }),
    },
    {
      name: 'replace of a multi-valued attribute without filter replaces all values',
      ops: [{ op: 'replace', path: 'emails', value: [{ value: 'only@example.com' }] }],
      expect: (u) => expect(u.emails).toEqual([{ value: 'only@example.com' }]),
    },
    {
      name: 'remove by filter; filters with and/or/not/pr and case-insensitive values',
      ops: [{ op: 'remove', path: 'emails[(type eq "HOME" or value sw "nobody") and not (primary eq true) and value pr]' }],
      expect: (u) => expect(u.emails?.map((e) => e.type)).toEqual(['work']),
    },
    {
      name: 'remove of a filter matching nothing succeeds as a no-op',
      ops: [{ op: 'remove', path: 'emails[type eq "pager"]' }],
      expect: (u) => expect(u.emails).toHaveLength(2),
      changed: false,
    },
    {
      name: 'remove of a sub-attribute, of an extension attribute and of a value sub-attribute',
      ops: [
        { op: 'remove', path: 'name.givenName' },
        { op: 'remove', path: `${ENT}:manager` },
        { op: 'remove', path: 'emails[type eq "home"].value' },
      ],
      expect: (u) => {
        expect(u.name).toEqual({ familyName: 'Lovelace' });
        expect(u[ENT]?.manager).toBeUndefined();
        // An email without its value is gone.
        expect(u.emails?.map((e) => e.type)).toEqual(['work']);
      },
    },
    {
      name: 'enterprise attributes by URN path, manager as a string and by manager.value',
      ops: [
        { op: 'replace', path: `${ENT}:department`, value: 'Engines' },
        { op: 'add', path: `${ENT}:manager`, value: 'menabrea' },
        { op: 'replace', path: `${ENT}:manager.value`, value: 'somerville' },
      ],
      expect: (u) => expect(u[ENT]).toEqual({ employeeNumber: '1', department: 'Engines', manager: { value: 'somerville' } }),
    },
    {
      name: 'replace with null unassigns',
      ops: [{ op: 'replace', path: 'externalId', value: null }, { op: 'replace', path: 'name', value: null }],
      expect: (u) => {
        expect(u.externalId).toBeUndefined();
        expect(u.name).toBeUndefined();
      },
    },
    {
      name: 'password is write-only and not stored: ignored',
      ops: [{ op: 'replace', path: 'password', value: 'S3cret!' }, { op: 'replace', value: { password: 'x' } }],
      expect: (u) => expect(Object.hasOwn(u, 'password')).toBe(false),
      changed: false,
    },
    {
      name: 'an extension URN outside the catalogue is kept verbatim',
      ops: [
        { op: 'add', path: 'urn:acme:scim:1.0:User', value: { badge: 7 } },
        { op: 'add', path: 'urn:acme:scim:1.0:User:level', value: 'L2' },
        { op: 'add', path: 'urn:other:ext:flag', value: true },
      ],
      expect: (u) => {
        expect(u['urn:acme:scim:1.0:User']).toEqual({ badge: 7, level: 'L2' });
        expect(u['urn:other:ext:flag']).toBe(true);
      },
    },
    {
      name: 'no-path add ignores id, meta and schemas echoed by the client',
      ops: [{ op: 'add', value: { id: 'x', meta: {}, schemas: [URN.user], title: 'T' } }],
      expect: (u) => {
        expect(u.title).toBe('T');
        expect(Object.hasOwn(u, 'id')).toBe(false);
      },
    },
    {
      name: 'the whole enterprise extension with its own schemas, no path (scim2-client, SDKs)',
      ops: [
        { op: 'add', value: { [ENT]: { schemas: [ENT], department: 'Engines' } } },
        { op: 'replace', value: { [ENT]: { SCHEMAS: [ENT], costCenter: 'CC-1' } } },
      ],
      expect: (u) => expect(u[ENT]).toEqual({ employeeNumber: '1', department: 'Engines', costCenter: 'CC-1', manager: { value: 'babbage' } }),
    },
    {
      name: 'the enterprise extension with its own schemas, by URN path',
      ops: [{ op: 'replace', path: ENT, value: { schemas: [ENT], division: 'R&D' } }],
      expect: (u) => {
        expect(u[ENT]?.division).toBe('R&D');
        expect(Object.hasOwn(u[ENT] ?? {}, 'schemas')).toBe(false);
      },
    },
    {
      name: 'a no-path value that is a whole resource with top-level schemas',
      ops: [{ op: 'replace', value: { schemas: [URN.user, ENT], title: 'T', [ENT]: { schemas: [ENT], department: 'D' } } }],
      expect: (u) => {
        expect(u.title).toBe('T');
        expect(u[ENT]?.department).toBe('D');
      },
    },
    {
      name: 'a single object for a multi-valued add (Entra)',
      ops: [{ op: 'add', path: 'phoneNumbers', value: { value: '+44 2', type: 'work' } }],
      expect: (u) => expect(u.phoneNumbers).toHaveLength(2),
    },
  ];

  it.each(cases)('$name', ({ ops, expect: check, changed }) => {
    const snapshot = JSON.stringify(baseUser);
    const result = patchUser(ops);
    check(result.user);
    expect(result.changed).toBe(changed ?? true);
    expect(JSON.stringify(baseUser)).toBe(snapshot);
  });
});

describe('applyUserPatch: rejected operations', () => {
  const cases: { name: string; ops: unknown[]; scimType: ScimType }[] = [
    { name: 'remove without path', ops: [{ op: 'remove' }], scimType: 'noTarget' },
    { name: 'id', ops: [{ op: 'replace', path: 'id', value: 'x' }], scimType: 'mutability' },
    { name: 'meta', ops: [{ op: 'add', path: 'meta', value: {} }], scimType: 'mutability' },
    { name: 'meta.lastModified', ops: [{ op: 'replace', path: 'meta.lastModified', value: 'x' }], scimType: 'mutability' },
    { name: 'groups', ops: [{ op: 'add', path: 'groups', value: [{ value: 'g' }] }], scimType: 'mutability' },
    { name: 'schemas', ops: [{ op: 'replace', path: 'schemas', value: [] }], scimType: 'mutability' },
    { name: 'core-URN id', ops: [{ op: 'replace', path: `${URN.user}:id`, value: 'x' }], scimType: 'mutability' },
    { name: 'groups in a no-path value', ops: [{ op: 'add', value: { groups: [{ value: 'g' }] } }], scimType: 'mutability' },
    { name: '__proto__.polluted', ops: [{ op: 'add', path: '__proto__.polluted', value: 'yes' }], scimType: 'invalidPath' },
    { name: 'constructor.prototype.polluted', ops: [{ op: 'add', path: 'constructor.prototype.polluted', value: 'yes' }], scimType: 'invalidPath' },
    { name: 'toString.x', ops: [{ op: 'replace', path: 'toString.x', value: 'yes' }], scimType: 'invalidPath' },
    { name: 'name.__proto__', ops: [{ op: 'replace', path: 'name.__proto__', value: { polluted: 'yes' } }], scimType: 'invalidPath' },
    { name: 'NAME.__PROTO__', ops: [{ op: 'replace', path: 'NAME.__PROTO__', value: { polluted: 'yes' } }], scimType: 'invalidPath' },
    { name: '__proto__ in a filter', ops: [{ op: 'replace', path: 'emails[__proto__ eq "x"].value', value: 'y' }], scimType: 'invalidPath' },
    { name: 'prototype after a filter', ops: [{ op: 'replace', path: 'emails[type eq "work"].prototype', value: 'y' }], scimType: 'invalidPath' },
    { name: '__proto__ inside an unknown URN', ops: [{ op: 'add', path: 'urn:acme:__proto__:polluted', value: 1 }], scimType: 'invalidPath' },
    { name: 'constructor as an extension attribute', ops: [{ op: 'add', path: 'urn:acme:ext:1.0:User:constructor', value: 1 }], scimType: 'invalidPath' },
    { name: '__proto__ as a no-path key', ops: [{ op: 'add', value: JSON.parse('{"__proto__":{"polluted":"yes"}}') }], scimType: 'invalidValue' },
    { name: '__proto__ inside a value', ops: [{ op: 'add', path: 'name', value: JSON.parse('{"__proto__":{"polluted":"yes"}}') }], scimType: 'invalidValue' },
    { name: 'unknown core attribute', ops: [{ op: 'add', path: 'favouriteColour', value: 'x' }], scimType: 'invalidPath' },
    { name: 'unknown core attribute in a no-path value', ops: [{ op: 'add', value: { favouriteColour: 'x' } }], scimType: 'invalidPath' },
    { name: 'unknown enterprise attribute', ops: [{ op: 'add', path: `${ENT}:shoeSize`, value: '9' }], scimType: 'invalidPath' },
    { name: 'unknown sub-attribute', ops: [{ op: 'add', path: 'name.nick', value: 'x' }], scimType: 'invalidPath' },
    { name: 'filter on a single-valued attribute', ops: [{ op: 'remove', path: 'name[givenName eq "Ada"]' }], scimType: 'invalidPath' },
    { name: 'the core schema URN as a path', ops: [{ op: 'replace', path: URN.user, value: {} }], scimType: 'invalidPath' },
    { name: 'unterminated filter', ops: [{ op: 'remove', path: 'emails[type eq "work"' }], scimType: 'invalidPath' },
    { name: 'filter without a value', ops: [{ op: 'remove', path: 'emails[type eq]' }], scimType: 'invalidPath' },
    { name: 'unknown filter operator', ops: [{ op: 'remove', path: 'emails[type xx "a"]' }], scimType: 'invalidPath' },
    { name: 'unbalanced parentheses', ops: [{ op: 'remove', path: 'emails[(type eq "a"]' }], scimType: 'invalidPath' },
    { name: 'empty segment', ops: [{ op: 'remove', path: 'name..givenName' }], scimType: 'invalidPath' },
    { name: 'three segments', ops: [{ op: 'remove', path: 'name.givenName.x' }], scimType: 'invalidPath' },
    { name: 'garbage after a filter', ops: [{ op: 'remove', path: 'emails[type eq "a"]x' }], scimType: 'invalidPath' },
    { name: 'path not a string', ops: [{ op: 'remove', path: 5 }], scimType: 'invalidPath' },
    { name: 'a path over 8192 characters', ops: [{ op: 'remove', path: `emails[${'('.repeat(5000)}type eq "a"${')'.repeat(5000)}]` }], scimType: 'invalidPath' },
    { name: 'filter parentheses nested deeper than 32', ops: [{ op: 'remove', path: `emails[${'('.repeat(40)}type eq "a"${')'.repeat(40)}]` }], scimType: 'invalidPath' },
    { name: 'unknown op', ops: [{ op: 'move', path: 'title', value: 'x' }], scimType: 'invalidSyntax' },
    { name: 'missing op', ops: [{ path: 'title', value: 'x' }], scimType: 'invalidSyntax' },
    { name: 'add without value', ops: [{ op: 'add', path: 'title' }], scimType: 'invalidSyntax' },
    { name: 'replace userName with ""', ops: [{ op: 'replace', path: 'userName', value: '' }], scimType: 'invalidValue' },
    { name: 'remove userName', ops: [{ op: 'remove', path: 'userName' }], scimType: 'invalidValue' },
    { name: 'userName with a control character', ops: [{ op: 'replace', path: 'userName', value: 'a\u0000' }], scimType: 'invalidValue' },
    { name: 'active "nope"', ops: [{ op: 'replace', path: 'active', value: 'nope' }], scimType: 'invalidValue' },
    // `active` always holds the user's administrative status: unassigning it would reactivate.
    { name: 'remove active', ops: [{ op: 'remove', path: 'active' }], scimType: 'mutability' },
    { name: 'Remove active by its core URN path', ops: [{ op: 'Remove', path: `${URN.user}:active` }], scimType: 'mutability' },
    { name: 'replace active with null', ops: [{ op: 'replace', path: 'active', value: null }], scimType: 'mutability' },
    { name: 'no-path replace {active: null}', ops: [{ op: 'replace', value: { active: null } }], scimType: 'mutability' },
    { name: 'name as a number', ops: [{ op: 'replace', path: 'name', value: 5 }], scimType: 'invalidValue' },
    { name: 'no-path value not an object', ops: [{ op: 'replace', value: 'x' }], scimType: 'invalidValue' },
    {
      name: 'Replace on a missing value whose filter does not pin an element',
      ops: [{ op: 'Replace', path: 'emails[type co "oth"].value', value: 'x@y' }],
      scimType: 'noTarget',
    },
    {
      name: 'two values made primary by one add',
      ops: [{ op: 'add', path: 'emails', value: [{ value: 'a', primary: true }, { value: 'b', primary: true }] }],
      scimType: 'invalidValue',
    },
    {
      name: 'a value nested deeper than 10 levels',
      ops: [{ op: 'add', path: 'urn:acme:x', value: JSON.parse(`${'{"a":'.repeat(11)}1${'}'.repeat(11)}`) }],
      scimType: 'invalidValue',
    },
  ];

  it.each(cases)('$name → 400 $scimType', ({ ops, scimType }) => {
    const snapshot = JSON.stringify(baseUser);
    const err = scimError(() => patchUser(ops));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe(scimType);
    expect(JSON.stringify(baseUser)).toBe(snapshot);
  });

  it('is atomic: a failing second op throws and leaves the input untouched', () => {
    const input = JSON.parse(JSON.stringify(baseUser)) as ScimUser; // not frozen: mutation would be visible
    const snapshot = JSON.stringify(input);
    const err = scimError(() =>
      patchUser(
        [
          { op: 'replace', path: 'displayName', value: 'Changed' },
          { op: 'replace', path: 'id', value: 'stolen' },
        ],
        input,
      ),
    );
    expect(err.scimType).toBe('mutability');
    expect(JSON.stringify(input)).toBe(snapshot);
  });

  it('returns a fresh object that does not alias the input or op values', () => {
    const value = [{ value: 'z@example.com' }];
    const { user } = patchUser([{ op: 'add', path: 'emails', value }]);
    user.emails?.push({ value: 'again' });
    expect(baseUser.emails).toHaveLength(2);
    value[0]!.value = 'mutated';
    expect(user.emails?.[2]?.value).toBe('z@example.com');
  });
});

describe('parsePatchRequest', () => {
  const limits = { maxOperations: 3 };

  it('lowercases op names and accepts the Operations key in any case', () => {
    const ops = parsePatchRequest({ schemas: [URN.patchOp.toUpperCase()], operations: [{ Op: 'Add', Path: 'title', Value: 'x' }] }, limits);
    expect(ops).toEqual([{ op: 'add', path: { raw: 'title', attrPath: 'title' }, value: 'x' }]);
  });

  it('accepts a missing schemas array (IdPs vary) and an empty path as no path', () => {
    const ops = parsePatchRequest({ Operations: [{ op: 'replace', path: '', value: { active: false } }] }, limits);
    expect(ops).toEqual([{ op: 'replace', value: { active: false } }]);
  });

  const invalid: { name: string; body: unknown; scimType: ScimType }[] = [
    { name: 'not an object', body: [], scimType: 'invalidSyntax' },
    { name: 'schemas without PatchOp', body: { schemas: [URN.user], Operations: [{ op: 'add', path: 'title', value: 'x' }] }, scimType: 'invalidSyntax' },
    { name: 'Operations missing', body: { schemas: [URN.patchOp] }, scimType: 'invalidSyntax' },
    { name: 'Operations empty', body: { schemas: [URN.patchOp], Operations: [] }, scimType: 'invalidSyntax' },
    { name: 'an op that is not an object', body: { Operations: ['add'] }, scimType: 'invalidSyntax' },
    {
      name: 'more than maxOperations',
      body: { Operations: Array.from({ length: 4 }, () => ({ op: 'add', path: 'title', value: 'x' })) },
      scimType: 'invalidValue',
    },
  ];

  it.each(invalid)('$name → 400 $scimType', ({ body: b, scimType }) => {
    const err = scimError(() => parsePatchRequest(b, limits));
    expect(err.scimType).toBe(scimType);
  });

  it('parses value paths with a sub-attribute and ] inside strings', () => {
    expect(parsePath('emails[value eq "a]b" and type eq "work"].value')).toMatchObject({
      attrPath: 'emails',
      sub: 'value',
      filter: { kind: 'and' },
    });
  });
});

describe('applyGroupPatch', () => {
  const group: ScimGroup = deepFreeze({ displayName: 'Engineering', externalId: 'eng' });
  const patchGroup = (operations: unknown[]) => applyGroupPatch(group, parse(operations));

  const cases: { name: string; ops: unknown[]; group?: Record<string, unknown>; changed: boolean; members: Record<string, unknown> }[] = [
    {
      name: 'Okta rename: no-path replace {id, displayName} touches only displayName',
      ops: [{ op: 'replace', value: { id: 'g-1', displayName: 'Platform' } }],
      group: { displayName: 'Platform', externalId: 'eng' },
      changed: true,
      members: { add: [], remove: [] },
    },
    {
      name: 'a no-path replace whose value is a whole Group with top-level schemas',
      ops: [{ op: 'replace', value: { schemas: [URN.group], displayName: 'Platform' } }],
      group: { displayName: 'Platform', externalId: 'eng' },
      changed: true,
      members: { add: [], remove: [] },
    },
    {
      name: 'Okta membership: remove members[value eq "…"] plus add of a members array',
      ops: [
        { op: 'remove', path: 'members[value eq "u1"]' },
        { op: 'add', path: 'members', value: [{ value: 'u2', display: 'Bob' }, { value: 'u3' }] },
      ],
      changed: false,
      members: { add: [{ value: 'u2', display: 'Bob' }, { value: 'u3' }], remove: ['u1'] },
    },
    {
      name: 'remove with or-joined value filters',
      ops: [{ op: 'Remove', path: 'members[value eq "u1" or (value eq "u2")]' }],
      changed: false,
      members: { add: [], remove: ['u1', 'u2'] },
    },
    {
      name: 'Okta push now: replace members with []',
      ops: [{ op: 'replace', path: 'members', value: [] }],
      changed: false,
      members: { replaceAll: [], add: [], remove: [] },
    },
    {
      name: 'Entra without the flag: Remove members with a value list removes only those',
      ops: [{ op: 'Remove', path: 'members', value: [{ value: 'u1' }, { value: 'u2' }] }],
      changed: false,
      members: { add: [], remove: ['u1', 'u2'] },
    },
    {
      name: 'Remove members with an empty value list never empties the group',
      ops: [{ op: 'Remove', path: 'members', value: [] }],
      changed: false,
      members: { add: [], remove: [] },
    },
    {
      name: 'remove members without value removes all',
      ops: [{ op: 'remove', path: 'members' }],
      changed: false,
      members: { add: [], remove: [], removeAll: true },
    },
    {
      name: 'Entra single member object; types normalised',
      ops: [{ op: 'Add', path: 'members', value: { value: 'u1', type: 'user' } }],
      changed: false,
      members: { add: [{ value: 'u1', type: 'User' }], remove: [] },
    },
    {
      name: 'JumpCloud repeated member adds collapse',
      ops: [
        { op: 'add', path: 'members', value: [{ value: 'u1' }] },
        { op: 'add', path: 'members', value: [{ value: 'u1' }] },
      ],
      changed: false,
      members: { add: [{ value: 'u1' }], remove: [] },
    },
    {
      name: 'replaceAll then add then remove fold into replaceAll',
      ops: [
        { op: 'replace', path: 'members', value: [{ value: 'a' }, { value: 'b' }] },
        { op: 'add', path: 'members', value: [{ value: 'c' }] },
        { op: 'remove', path: 'members[value eq "a"]' },
      ],
      changed: false,
      members: { replaceAll: [{ value: 'b' }, { value: 'c' }], add: [], remove: [] },
    },
    {
      name: 'add then remove of the same member: removed',
      ops: [
        { op: 'add', path: 'members', value: [{ value: 'x' }] },
        { op: 'remove', path: 'members', value: [{ value: 'x' }] },
      ],
      changed: false,
      members: { add: [], remove: ['x'] },
    },
    {
      name: 'remove then add of the same member: added',
      ops: [
        { op: 'remove', path: 'members[value eq "x"]' },
        { op: 'add', path: 'members', value: [{ value: 'x' }] },
      ],
      changed: false,
      members: { add: [{ value: 'x' }], remove: [] },
    },
    {
      name: 'removeAll then add',
      ops: [
        { op: 'remove', path: 'members' },
        { op: 'add', path: 'members', value: [{ value: 'y' }] },
      ],
      changed: false,
      members: { add: [{ value: 'y' }], remove: [], removeAll: true },
    },
    {
      name: 'members inside no-path replace (replaceAll) and no-path add (add)',
      ops: [
        { op: 'replace', value: { displayName: 'Eng 2', members: [{ value: 'a' }] } },
        { op: 'add', value: { members: [{ value: 'b' }] } },
      ],
      group: { displayName: 'Eng 2', externalId: 'eng' },
      changed: true,
      members: { replaceAll: [{ value: 'a' }, { value: 'b' }], add: [], remove: [] },
    },
    {
      name: 'externalId and an unknown extension patched like users',
      ops: [
        { op: 'replace', path: 'externalId', value: 'eng-2' },
        { op: 'add', path: 'urn:acme:1.0:Group:tier', value: 'gold' },
      ],
      group: { displayName: 'Engineering', externalId: 'eng-2', 'urn:acme:1.0:Group:tier': 'gold' },
      changed: true,
      members: { add: [], remove: [] },
    },
    {
      name: 'a rename to the same name is unchanged',
      ops: [{ op: 'replace', path: 'displayName', value: 'Engineering' }],
      changed: false,
      members: { add: [], remove: [] },
    },
  ];

  it.each(cases)('$name', ({ ops, group: expectedGroup, changed, members }) => {
    const result = patchGroup(ops);
    expect(result.group).toEqual(expectedGroup ?? group);
    expect(result.changed).toBe(changed);
    expect(result.members).toEqual(members);
    expect(Object.hasOwn(result.group, 'members')).toBe(false);
  });

  const invalid: { name: string; ops: unknown[]; scimType: ScimType }[] = [
    { name: 'a members filter on something other than value', ops: [{ op: 'remove', path: 'members[display eq "Bob"]' }], scimType: 'invalidPath' },
    { name: 'a members filter in add', ops: [{ op: 'add', path: 'members[value eq "a"]', value: {} }], scimType: 'invalidPath' },
    { name: 'a member sub-attribute', ops: [{ op: 'replace', path: 'members[value eq "a"].display', value: 'x' }], scimType: 'invalidPath' },
    { name: 'a member without value', ops: [{ op: 'add', path: 'members', value: [{ display: 'x' }] }], scimType: 'invalidValue' },
    { name: 'displayName emptied', ops: [{ op: 'replace', path: 'displayName', value: '' }], scimType: 'invalidValue' },
    { name: 'id', ops: [{ op: 'replace', path: 'id', value: 'x' }], scimType: 'mutability' },
    { name: 'remove without path', ops: [{ op: 'remove' }], scimType: 'noTarget' },
    { name: 'userName is not a Group attribute', ops: [{ op: 'replace', path: 'userName', value: 'x' }], scimType: 'invalidPath' },
    { name: '__proto__ path', ops: [{ op: 'add', path: '__proto__.polluted', value: 1 }], scimType: 'invalidPath' },
  ];

  it.each(invalid)('$name → 400 $scimType', ({ ops, scimType }) => {
    const err = scimError(() => patchGroup(ops));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe(scimType);
  });
});
