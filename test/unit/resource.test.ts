import { describe, expect, it } from 'vitest';
import { ScimError, type ScimType } from '../../core/errors.js';
import { normalizeGroupInput, normalizeUserInput, ScimUserSchema } from '../../core/scim/resource.js';
import { URN } from '../../core/scim/schema.js';

const ENT = URN.enterprise;

/** Builds n nested objects: nest(1) = { a: 1 }. */
const nest = (n: number): unknown => (n === 0 ? 1 : { a: nest(n - 1) });

function expectScimError(fn: () => unknown, scimType: ScimType, detail?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ScimError);
  const err = caught as ScimError;
  expect(err.status).toBe(400);
  expect(err.scimType).toBe(scimType);
  if (detail) expect(err.detail).toMatch(detail);
}

const NEVER_STORED = ['id', 'meta', 'schemas', 'password', 'groups'];

describe('normalizeUserInput: IdP shapes', () => {
  const cases: { name: string; body: unknown; expected: Record<string, unknown> }[] = [
    {
      name: 'Okta PUT echoes id, meta, groups: [] and a placeholder password',
      body: {
        schemas: [URN.user],
        id: '9f1c',
        meta: { resourceType: 'User', created: '2024-01-01T00:00:00Z' },
        groups: [],
        password: 'tmp-Placeholder1!',
        userName: 'ada@example.com',
        name: { givenName: 'Ada', familyName: 'Lovelace' },
        emails: [{ primary: true, value: 'ada@example.com', type: 'work' }],
        active: true,
      },
      expected: {
        userName: 'ada@example.com',
        name: { givenName: 'Ada', familyName: 'Lovelace' },
        emails: [{ primary: true, value: 'ada@example.com', type: 'work' }],
        active: true,
      },
    },
    {
      name: 'the enterprise extension serialised with its own schemas (scim2-client, SDKs)',
      body: { schemas: [URN.user, URN.enterprise], userName: 'e@example.com', [URN.enterprise]: { schemas: [URN.enterprise], department: 'D' } },
      expected: { userName: 'e@example.com', active: true, [URN.enterprise]: { department: 'D' } },
    },
    {
      name: "Google's schemas mix urn:scim:schemas:core:1.0 with 2.0",
      body: { schemas: ['urn:scim:schemas:core:1.0', URN.user, 'urn:made:up'], userName: 'g@example.com' },
      expected: { userName: 'g@example.com', active: true },
    },
    {
      name: 'OneLogin urn:scim:schemas:core:2.0 style keys',
      body: {
        'urn:scim:schemas:core:2.0:User:userName': 'ol@example.com',
        'urn:scim:schemas:core:2.0:displayName': 'One Login',
        'urn:scim:schemas:core:1.0:title': 'Eng',
      },
      expected: { userName: 'ol@example.com', displayName: 'One Login', title: 'Eng', active: true },
    },
    {
      name: 'core-URN-prefixed keys are stripped to the bare name',
      body: { [`${URN.user}:userName`]: 'u@example.com', [`${URN.user}:name.givenName`]: 'U' },
      expected: { userName: 'u@example.com', name: { givenName: 'U' }, active: true },
    },
    {
      name: 'attributes nested under the core URN object',
      body: { [URN.user]: { userName: 'n@example.com', active: false } },
      expected: { userName: 'n@example.com', active: false },
    },
    {
      name: 'Entra bare-string manager and URN-prefixed enterprise keys',
      body: {
        userName: 'e@example.com',
        [`${ENT}:employeeNumber`]: '7',
        [`${ENT}:manager`]: 'mgr-1',
        [ENT]: { department: 'R&D' },
      },
      expected: {
        userName: 'e@example.com',
        active: true,
        [ENT]: { employeeNumber: '7', manager: { value: 'mgr-1' }, department: 'R&D' },
      },
    },
    {
      name: 'manager inside the extension object as a string; URN matched case-insensitively',
      body: { userName: 'm@example.com', [ENT.toLowerCase()]: { Manager: 'boss', CostCenter: 'cc' } },
      expected: { userName: 'm@example.com', active: true, [ENT]: { manager: { value: 'boss' }, costCenter: 'cc' } },
    },
    {
      name: 'an empty manager id is unassigned',
      body: { userName: 'm@example.com', [ENT]: { manager: '' } },
      expected: { userName: 'm@example.com', active: true },
    },
    {
      name: 'case-variant attribute and sub-attribute names',
      body: {
        USERNAME: 'c@example.com',
        Name: { GivenName: 'C', FAMILYNAME: 'D' },
        Emails: [{ Value: 'c@example.com', Type: 'work', Primary: 'true' }],
        DisplayName: 'C D',
        ExternalID: 'ext-1',
      },
      expected: {
        userName: 'c@example.com',
        name: { givenName: 'C', familyName: 'D' },
        emails: [{ value: 'c@example.com', type: 'work', primary: true }],
        displayName: 'C D',
        externalId: 'ext-1',
        active: true,
      },
    },
    {
      name: '"True" / "False" strings in any case become booleans',
      body: {
        userName: 'b@example.com',
        active: 'False',
        phoneNumbers: [{ value: '1', primary: 'TRUE' }, { value: '2', primary: 'false' }],
      },
      expected: {
        userName: 'b@example.com',
        active: false,
        phoneNumbers: [{ value: '1', primary: true }, { value: '2', primary: false }],
      },
    },
    {
      name: 'unknown attributes and unknown extensions are kept verbatim',
      body: {
        userName: 'x@example.com',
        customField: { a: [1, 'two'] },
        'urn:acme:scim:1.0:User': { badge: 42 },
        'urn:acme:scim:1.0:User:level': 'L3',
      },
      expected: {
        userName: 'x@example.com',
        active: true,
        customField: { a: [1, 'two'] },
        'urn:acme:scim:1.0:User': { badge: 42 },
        'urn:acme:scim:1.0:User:level': 'L3',
      },
    },
    {
      name: 'a single object where an array is expected (Entra) and bare strings for multi-valued values',
      body: { userName: 's@example.com', emails: { value: 's@example.com' }, roles: ['admin'] },
      expected: { userName: 's@example.com', active: true, emails: [{ value: 's@example.com' }], roles: [{ value: 'admin' }] },
    },
    {
      name: 'nulls and empty arrays are unassigned',
      body: { userName: 'n@example.com', externalId: null, title: null, emails: [], name: { givenName: null } },
      expected: { userName: 'n@example.com', active: true },
    },
    {
      name: 'dotted keys for complex sub-attributes',
      body: { userName: 'd@example.com', 'name.givenName': 'G', name: { familyName: 'F' } },
      expected: { userName: 'd@example.com', active: true, name: { givenName: 'G', familyName: 'F' } },
    },
    {
      name: 'the same attribute twice with equal values is accepted',
      body: { userName: 'same@example.com', UserName: 'same@example.com' },
      expected: { userName: 'same@example.com', active: true },
    },
    {
      name: 'free-text attributes may hold newlines',
      body: { userName: 'f@example.com', addresses: [{ formatted: 'Line 1\nLine 2', type: 'work' }] },
      expected: { userName: 'f@example.com', active: true, addresses: [{ formatted: 'Line 1\nLine 2', type: 'work' }] },
    },
    {
      name: 'a 256-character userName is accepted',
      body: { userName: 'a'.repeat(256) },
      expected: { userName: 'a'.repeat(256), active: true },
    },
    {
      name: '10 levels of nesting are accepted',
      body: { userName: 'deep@example.com', extra: nest(9) },
      expected: { userName: 'deep@example.com', active: true, extra: nest(9) },
    },
  ];

  it.each(cases)('$name', ({ body, expected }) => {
    const user = normalizeUserInput(body);
    expect(user).toEqual(expected);
    for (const key of NEVER_STORED) expect(Object.hasOwn(user, key)).toBe(false);
    expect(ScimUserSchema.safeParse(user).success).toBe(true);
  });

  it('never touches Object.prototype and does not share structure with the input', () => {
    const body = { userName: 'p@example.com', extra: { list: [1, 2] } };
    const user = normalizeUserInput(body);
    (user.extra as { list: number[] }).list.push(3);
    expect(body.extra.list).toEqual([1, 2]);
  });
});

describe('normalizeUserInput: invalid input', () => {
  const cases: { name: string; body: unknown; scimType: ScimType; detail?: RegExp }[] = [
    { name: 'an array body', body: [], scimType: 'invalidSyntax' },
    { name: 'a string body', body: 'userName', scimType: 'invalidSyntax' },
    { name: 'a null body', body: null, scimType: 'invalidSyntax' },
    { name: 'missing userName', body: { name: { givenName: 'x' } }, scimType: 'invalidValue', detail: /^userName:/ },
    { name: 'empty userName', body: { userName: '' }, scimType: 'invalidValue', detail: /^userName:/ },
    { name: 'blank userName', body: { userName: '   ' }, scimType: 'invalidValue', detail: /^userName:/ },
    { name: 'numeric userName', body: { userName: 123 }, scimType: 'invalidValue', detail: /^userName:/ },
    { name: 'userName with NUL', body: { userName: 'a\u0000b' }, scimType: 'invalidValue', detail: /control/ },
    { name: 'userName with a newline', body: { userName: 'a\nb' }, scimType: 'invalidValue', detail: /control/ },
    { name: 'userName with DEL', body: { userName: 'a\u007fb' }, scimType: 'invalidValue', detail: /control/ },
    { name: 'userName over 256 characters', body: { userName: 'a'.repeat(257) }, scimType: 'invalidValue' },
    { name: 'externalId with a tab', body: { userName: 'u', externalId: 'a\tb' }, scimType: 'invalidValue', detail: /^externalId:/ },
    { name: 'displayName with a control char', body: { userName: 'u', displayName: 'a\u0001' }, scimType: 'invalidValue' },
    { name: 'active "yes"', body: { userName: 'u', active: 'yes' }, scimType: 'invalidValue', detail: /^active:/ },
    { name: 'active 1', body: { userName: 'u', active: 1 }, scimType: 'invalidValue', detail: /^active:/ },
    { name: 'email value a number', body: { userName: 'u', emails: [{ value: 5 }] }, scimType: 'invalidValue', detail: /emails/ },
    { name: 'email without value', body: { userName: 'u', emails: [{ type: 'work' }] }, scimType: 'invalidValue', detail: /emails/ },
    { name: 'name as a string', body: { userName: 'u', name: 'Ada' }, scimType: 'invalidValue', detail: /^name:/ },
    { name: 'title as an array', body: { userName: 'u', title: ['a'] }, scimType: 'invalidValue', detail: /^title:/ },
    { name: 'enterprise extension as a string', body: { userName: 'u', [ENT]: 'x' }, scimType: 'invalidValue' },
    {
      name: 'two primary emails (RFC 7643 §2.4)',
      body: { userName: 'u', emails: [{ value: 'a', primary: true }, { value: 'b', primary: 'True' }] },
      scimType: 'invalidValue',
      detail: /primary/,
    },
    { name: 'same attribute twice with different values', body: { userName: 'a', USERNAME: 'b' }, scimType: 'invalidValue' },
    { name: '__proto__ at the top', body: JSON.parse('{"userName":"u","__proto__":{"polluted":1}}'), scimType: 'invalidValue' },
    { name: '__proto__ in name', body: JSON.parse('{"userName":"u","name":{"__proto__":{"polluted":1}}}'), scimType: 'invalidValue' },
    { name: 'constructor in an extra', body: { userName: 'u', extra: { constructor: { prototype: { polluted: 1 } } } }, scimType: 'invalidValue' },
    { name: 'prototype in an email', body: { userName: 'u', emails: [{ value: 'a', prototype: 1 }] }, scimType: 'invalidValue' },
    { name: 'Constructor in another case', body: { userName: 'u', Constructor: 1 }, scimType: 'invalidValue' },
    { name: '11 levels of nesting', body: { userName: 'u', extra: nest(10) }, scimType: 'invalidValue', detail: /nested/ },
    {
      name: 'more than 1000 emails',
      body: { userName: 'u', emails: Array.from({ length: 1001 }, (_, i) => ({ value: `${i}@x` })) },
      scimType: 'invalidValue',
    },
  ];

  it.each(cases)('$name → 400 $scimType', ({ body, scimType, detail }) => {
    expectScimError(() => normalizeUserInput(body), scimType, detail);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('normalizeGroupInput', () => {
  const cases: { name: string; body: unknown; expected: { group: Record<string, unknown>; members?: unknown[] } }[] = [
    {
      name: 'Okta members without type; $ref dropped; id/meta/schemas ignored',
      body: {
        schemas: [URN.group],
        id: 'g1',
        meta: { resourceType: 'Group' },
        displayName: 'Eng',
        members: [{ value: 'u1', display: 'Ada' }, { value: 'u2', $ref: 'https://x/Users/u2', type: 'user' }],
      },
      expected: { group: { displayName: 'Eng' }, members: [{ value: 'u1', display: 'Ada' }, { value: 'u2', type: 'User' }] },
    },
    {
      name: 'Entra sends one member object instead of an array',
      body: { DisplayName: 'Ops', Members: { Value: 'u1', Type: 'Group' } },
      expected: { group: { displayName: 'Ops' }, members: [{ value: 'u1', type: 'Group' }] },
    },
    {
      name: 'no members key: members absent (not an empty list)',
      body: { displayName: 'Solo', externalId: 'ext' },
      expected: { group: { displayName: 'Solo', externalId: 'ext' } },
    },
    {
      name: 'members: null is an empty list',
      body: { displayName: 'Empty', members: null },
      expected: { group: { displayName: 'Empty' }, members: [] },
    },
    {
      name: 'duplicate member ids collapse (JumpCloud repeats)',
      body: { displayName: 'Dup', members: [{ value: 'u1' }, { value: 'u1', display: 'again' }] },
      expected: { group: { displayName: 'Dup' }, members: [{ value: 'u1', display: 'again' }] },
    },
    {
      name: 'core-URN-prefixed displayName; extras kept',
      body: { [`${URN.group}:displayName`]: 'Pref', 'urn:acme:1.0:Group': { tier: 1 } },
      expected: { group: { displayName: 'Pref', 'urn:acme:1.0:Group': { tier: 1 } } },
    },
  ];

  it.each(cases)('$name', ({ body, expected }) => {
    const out = normalizeGroupInput(body);
    expect(out).toEqual(expected);
    expect(Object.hasOwn(out.group, 'members')).toBe(false);
  });

  const invalid: { name: string; body: unknown; scimType: ScimType }[] = [
    { name: 'not an object', body: [1], scimType: 'invalidSyntax' },
    { name: 'missing displayName', body: { members: [] }, scimType: 'invalidValue' },
    { name: 'empty displayName', body: { displayName: '' }, scimType: 'invalidValue' },
    { name: 'displayName with a newline', body: { displayName: 'a\nb' }, scimType: 'invalidValue' },
    { name: 'member without value', body: { displayName: 'g', members: [{ display: 'x' }] }, scimType: 'invalidValue' },
    { name: 'member value a number', body: { displayName: 'g', members: [{ value: 1 }] }, scimType: 'invalidValue' },
    { name: 'member with an unknown type', body: { displayName: 'g', members: [{ value: 'u', type: 'Robot' }] }, scimType: 'invalidValue' },
    { name: '__proto__ in a member', body: JSON.parse('{"displayName":"g","members":[{"value":"u","__proto__":{"x":1}}]}'), scimType: 'invalidValue' },
  ];

  it.each(invalid)('$name → 400 $scimType', ({ body, scimType }) => {
    expectScimError(() => normalizeGroupInput(body), scimType);
  });
});
