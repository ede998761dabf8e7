import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../../core/errors.js';
import { applyGroupPatch, applyUserPatch, parsePatchRequest } from '../../core/scim/patch.js';
import {
  normalizeGroupInput,
  normalizeUserInput,
  ScimGroupSchema,
  ScimUserSchema,
  type ScimGroup,
  type ScimUser,
} from '../../core/scim/resource.js';
import { URN } from '../../core/scim/schema.js';

/**
 * Whatever a client sends, PATCH either yields a valid resource or a 400 ScimError; it never
 * throws anything else, never mutates its input and never reaches Object.prototype.
 */

const ENT = URN.enterprise;
const NEVER_STORED = ['id', 'meta', 'schemas', 'password', 'groups', 'members'];

const baseUser: ScimUser = normalizeUserInput({
  userName: 'ada@example.com',
  externalId: 'ext-ada',
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  displayName: 'Ada',
  emails: [
    { value: 'ada@example.com', type: 'work', primary: true },
    { value: 'ada@home.example', type: 'home' },
  ],
  phoneNumbers: [{ value: '+44 1', type: 'mobile' }],
  addresses: [{ locality: 'London', type: 'home' }],
  roles: [{ value: 'admin' }],
  [ENT]: { employeeNumber: '1', manager: { value: 'babbage' } },
  'urn:acme:scim:1.0:User': { badge: 7, tags: ['a', 'b'] },
});
const baseGroup: ScimGroup = normalizeGroupInput({ displayName: 'Engineering', externalId: 'eng' }).group;

const segments = [
  'userName', 'name', 'givenName', 'familyName', 'displayName', 'nickName', 'title', 'active', 'externalId',
  'emails', 'phoneNumbers', 'addresses', 'roles', 'entitlements', 'ims', 'photos', 'x509Certificates',
  'value', 'type', 'primary', 'display', 'locality', 'members', 'password', 'id', 'meta', 'groups', 'schemas',
  'employeeNumber', 'manager', 'department', '$ref',
];
const hostileSegments = ['__proto__', 'constructor', 'prototype', 'toString', '__PROTO__', 'Constructor', 'valueOf', 'hasOwnProperty'];

const realPaths = fc.constantFrom(
  'userName', 'USERNAME', 'name', 'name.givenName', 'Name.FamilyName', 'displayName', 'active', 'externalId', 'title',
  'emails', 'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[type eq "other"].value',
  'emails[value co "@"].primary', 'emails[type eq "home" or primary eq true]', 'emails[not (type eq "work")].display',
  'emails.value', 'phoneNumbers[type eq "mobile"].value', 'addresses[type eq "home"].locality', 'roles', 'roles[value eq "admin"]',
  ENT, `${ENT}:employeeNumber`, `${ENT}:manager`, `${ENT}:manager.value`, `${ENT}:department`,
  `${URN.user}:userName`, `${URN.user}:active`, 'urn:scim:schemas:core:2.0:User:title', URN.user,
  'urn:acme:scim:1.0:User', 'urn:acme:scim:1.0:User:badge', 'urn:acme:scim:1.0:User:tags[value eq "a"]',
  'urn:acme:scim:1.0:User:level.deep', 'urn:other:flag',
  'id', 'meta', 'meta.version', 'groups', 'schemas', 'password',
  'members', 'members[value eq "u1"]', 'members[value eq "u1" or value eq "u2"]', 'members[display eq "x"]',
);
const hostilePaths = fc.constantFrom(
  '__proto__', '__proto__.polluted', 'constructor.prototype.polluted', 'toString.x', 'name.__proto__',
  'NAME.__PROTO__', 'emails[__proto__ eq "x"].value', 'emails[type eq "work"].constructor', 'urn:acme:__proto__:polluted',
  'urn:acme:scim:1.0:User:__proto__', 'prototype', 'emails[type eq "a"', 'emails[(((type eq "a"]', 'a..b', '.', '[',
  'emails[type eq "a"]]', `emails[${'('.repeat(40)}type pr${')'.repeat(40)}]`,
);
const composedPaths = fc
  .array(fc.oneof(fc.constantFrom(...segments), fc.constantFrom(...hostileSegments)), { minLength: 1, maxLength: 4 })
  .chain((parts) => fc.constantFrom(parts.join('.'), parts.join(':'), `urn:x:${parts.join(':')}`));
const pathArb = fc.oneof(
  { weight: 12, arbitrary: realPaths },
  { weight: 2, arbitrary: hostilePaths },
  { weight: 2, arbitrary: composedPaths },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(5, null, true, {}) },
);

const nest = (n: number, leaf: unknown): unknown => (n === 0 ? leaf : n % 2 ? { a: nest(n - 1, leaf) } : [nest(n - 1, leaf)]);
const hostileValues = fc.constantFrom(
  JSON.parse('{"__proto__":{"polluted":"yes"}}') as unknown,
  JSON.parse('{"name":{"__proto__":{"polluted":"yes"}}}') as unknown,
  { constructor: { prototype: { polluted: 'yes' } } },
  JSON.parse('[{"value":"x","__proto__":{"polluted":"yes"}}]') as unknown,
  { toString: 'x' },
);
const emailish = fc.array(
  fc.record(
    {
      value: fc.oneof(fc.emailAddress(), fc.string({ maxLength: 8 }), fc.integer()),
      type: fc.constantFrom('work', 'home', 'other', 'WORK'),
      primary: fc.oneof(fc.boolean(), fc.constantFrom('True', 'false', 'nope')),
    },
    { requiredKeys: [] },
  ),
  { maxLength: 4 },
);
const attributeObject = fc.dictionary(
  fc.oneof(realPaths, fc.constantFrom(...segments), fc.constantFrom(...hostileSegments), fc.string({ maxLength: 10 })),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('True', 'False'), emailish),
  { maxKeys: 4 },
);
const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.constantFrom('True', 'False', 'tRuE', 'yes', '', 'x\u0000y', 'manager-id') },
  { weight: 2, arbitrary: emailish },
  { weight: 3, arbitrary: attributeObject },
  { weight: 1, arbitrary: hostileValues },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 14 }), fc.jsonValue({ maxDepth: 1 })).map(([n, leaf]) => nest(n, leaf)) },
  { weight: 1, arbitrary: fc.array(fc.record({ value: fc.string({ maxLength: 6 }) }), { maxLength: 3 }) },
);

// Weighted towards well-formed envelopes so most runs reach the engine: one bad op rejects the
// whole request, so junk is kept rare.
const opName = fc.oneof(
  { weight: 30, arbitrary: fc.mixedCase(fc.constantFrom('add', 'replace', 'remove')) },
  { weight: 1, arbitrary: fc.constantFrom('move', 'copy', '', ' add', 'test') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const operation = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: opName, path: pathArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ op: opName, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ op: opName, path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ op: opName, path: pathArb, value: valueArb }, { requiredKeys: [] }) },
);
const request = fc.record(
  {
    schemas: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom([URN.patchOp], [URN.patchOp.toUpperCase(), 'urn:scim:schemas:core:1.0']) },
      { weight: 1, arbitrary: fc.constantFrom(['urn:wrong'], 'x', null) },
    ),
    Operations: fc.oneof(
      { weight: 20, arbitrary: fc.array(operation, { minLength: 1, maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(operation, { minLength: 0, maxLength: 7 }) },
    ),
  },
  { requiredKeys: ['Operations'] },
);

function prototypeKeys(): string[] {
  return [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertySymbols(Object.prototype).map(String)].sort();
}

function expect400(e: unknown): void {
  if (!(e instanceof ScimError)) throw e; // surfaces the real error in the counterexample
  expect(e.status).toBe(400);
}

describe('PATCH engine properties', () => {
  const cleanPrototype = prototypeKeys();

  /** Runs one request against baseUser; true when it applied, false on a 400. */
  function checkUserRequest(body: unknown): boolean {
    const snapshot = JSON.stringify(baseUser);
    let applied = false;
    try {
      const ops = parsePatchRequest(body, { maxOperations: 5 });
      const { user, changed } = applyUserPatch(baseUser, ops);
      expect(ScimUserSchema.safeParse(user).success).toBe(true);
      for (const key of NEVER_STORED) expect(Object.hasOwn(user, key)).toBe(false);
      // The result is a fixed point of the normaliser: what PUT would store.
      expect(normalizeUserInput(user)).toEqual(user);
      expect(typeof changed).toBe('boolean');
      applied = true;
    } catch (e) {
      expect400(e);
    }
    expect(JSON.stringify(baseUser)).toBe(snapshot);
    expect(prototypeKeys()).toEqual(cleanPrototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    return applied;
  }

  it('user, hostile mix: a valid user or a 400 ScimError; input untouched; Object.prototype clean', () => {
    let applied = 0;
    fc.assert(
      fc.property(request, (body) => {
        if (checkUserRequest(body)) applied++;
      }),
      { numRuns: 2000 },
    );
    // Guards the generator: some requests must get through to a result, not all die in parsing.
    expect(applied).toBeGreaterThan(30);
  });

  it('user, realistic ops: same guarantees, and many requests apply', () => {
    const writablePath = fc.constantFrom(
      'userName', 'name', 'name.givenName', 'Name.FamilyName', 'displayName', 'active', 'externalId', 'title',
      'emails', 'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[type eq "other"].value',
      'emails[value co "@"].primary', 'emails[type eq "home" or primary eq true]', 'emails.value', 'roles',
      'phoneNumbers[type eq "mobile"].value', 'addresses[type eq "home"].locality', ENT, `${ENT}:employeeNumber`,
      `${ENT}:manager`, `${ENT}:manager.value`, `${URN.user}:userName`, 'urn:acme:scim:1.0:User:badge',
      'urn:acme:scim:1.0:User:tags[value eq "a"]', 'password',
    );
    const text = fc.string({ minLength: 1, maxLength: 12 }).filter((x) => !/[\u0000-\u001f\u007f]/.test(x));
    const value = fc.oneof(
      text,
      fc.boolean(),
      fc.constantFrom('True', 'False', null),
      fc.array(fc.record({ value: text, type: fc.constantFrom('work', 'home', 'other') }, { requiredKeys: ['value'] }), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.record({ givenName: text, 'name.familyName': text, active: fc.constantFrom('true', 'FALSE'), [`${ENT}:manager`]: text }, {
        requiredKeys: [],
      }),
    );
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.mixedCase(fc.constantFrom('add', 'replace', 'remove')), path: writablePath, value }) },
      { weight: 1, arbitrary: fc.record({ op: fc.mixedCase(fc.constantFrom('add', 'replace')), value: fc.dictionary(writablePath, value, { maxKeys: 3 }) }) },
    );
    let applied = 0;
    const runs = 1500;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 4 }), (operations) => {
        if (checkUserRequest({ schemas: [URN.patchOp], Operations: operations })) applied++;
      }),
      { numRuns: runs },
    );
    // Values are drawn independently of paths, so type mismatches (a boolean userName) are
    // rightly rejected; about 30% apply. 20% leaves a wide margin and still catches a generator
    // (or engine) that rejects everything.
    expect(applied).toBeGreaterThan(runs / 5);
  });

  it('group: a valid group plus a member change, or a 400 ScimError', () => {
    fc.assert(
      fc.property(request, (body) => {
        const snapshot = JSON.stringify(baseGroup);
        try {
          const ops = parsePatchRequest(body, { maxOperations: 5 });
          const { group, members } = applyGroupPatch(baseGroup, ops);
          expect(ScimGroupSchema.safeParse(group).success).toBe(true);
          expect(Object.hasOwn(group, 'members')).toBe(false);
          // The fold keeps at most one of removeAll / replaceAll, and with replaceAll nothing else.
          expect(members.removeAll && members.replaceAll).toBeFalsy();
          if (members.replaceAll) expect(members.add.length + members.remove.length).toBe(0);
        } catch (e) {
          expect400(e);
        }
        expect(JSON.stringify(baseGroup)).toBe(snapshot);
        expect(prototypeKeys()).toEqual(cleanPrototype);
      }),
      { numRuns: 1500 },
    );
  });

  it('user: well-formed single string operations always succeed', () => {
    const goodOp = fc.record({
      op: fc.mixedCase(fc.constantFrom('add', 'replace')),
      path: fc.constantFrom('title', 'displayName', 'name.givenName', `${ENT}:department`, 'emails[type eq "work"].value'),
      value: fc.string({ maxLength: 20 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s)),
    });
    fc.assert(
      fc.property(goodOp, (op) => {
        const { user } = applyUserPatch(baseUser, parsePatchRequest({ Operations: [op] }, { maxOperations: 1 }));
        expect(ScimUserSchema.safeParse(user).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
