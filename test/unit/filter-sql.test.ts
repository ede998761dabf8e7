import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../core/scim/filter.js';
import { compileFilter, compileSortBy, isDateTime, resolveFilterAttribute } from '../../core/scim/filter-sql.js';
import { thrownScimError } from '../helpers/scim.js';

const limits = { maxLength: 10_000, maxDepth: 20 };
const user = (filter: string) => compileFilter(parseFilter(filter, limits), 'User');
const group = (filter: string) => compileFilter(parseFilter(filter, limits), 'Group');

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const UUID = '2819c223-7f76-453a-919d-413861904646';
const EMAILS = "jsonb_array_elements(CASE WHEN jsonb_typeof(u.emails) = 'array' THEN u.emails ELSE '[]'::jsonb END) AS e(v)";
const GROUPS_OF_USER =
  'EXISTS (SELECT 1 FROM group_members gm JOIN groups gg ON gg.tenant_id = gm.tenant_id AND gg.id = gm.group_id WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id AND';
const MEMBERS = 'EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id AND';

const scimError = thrownScimError;

describe('compileFilter: User', () => {
  const cases: [string, string, unknown[]][] = [
    // userName: folded in JS and compared to user_name_key, so the unique index applies.
    ['userName eq "Alice"', 'u.user_name_key = $slonik_1', ['alice']],
    ['USERNAME eq "ＡＬＩＣＥ"', 'u.user_name_key = $slonik_1', ['alice']],
    ['userName ne "Alice"', 'u.user_name_key IS DISTINCT FROM $slonik_1', ['alice']],
    ['userName co "Li"', "u.user_name_key LIKE $slonik_1 ESCAPE '\\'", ['%li%']],
    ['userName sw "%"', "u.user_name_key LIKE $slonik_1 ESCAPE '\\'", ['\\%%']],
    ['userName ew "_x\\\\"', "u.user_name_key LIKE $slonik_1 ESCAPE '\\'", ['%\\_x\\\\']],
    ['userName gt "M"', 'u.user_name_key > $slonik_1', ['m']],
    ['userName ge "M"', 'u.user_name_key >= $slonik_1', ['m']],
    ['userName lt "M"', 'u.user_name_key < $slonik_1', ['m']],
    ['userName le "M"', 'u.user_name_key <= $slonik_1', ['m']],
    ['userName pr', "(u.user_name_key IS NOT NULL AND u.user_name_key <> '')", []],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "A"', 'u.user_name_key = $slonik_1', ['a']],
    // id and externalId are caseExact; a uuid-shaped id compares the uuid column (primary key).
    [`id eq "${UUID}"`, 'u.id = $slonik_1::uuid', [UUID]],
    [`id eq "${UUID.toUpperCase()}"`, 'u.id::text = $slonik_1', [UUID.toUpperCase()]],
    ['id eq "not-a-uuid"', 'u.id::text = $slonik_1', ['not-a-uuid']],
    ['id sw "2819"', "u.id::text LIKE $slonik_1 ESCAPE '\\'", ['2819%']],
    ['externalId eq "AbC"', 'u.external_id = $slonik_1', ['AbC']],
    ['externalId ne "AbC"', 'u.external_id IS DISTINCT FROM $slonik_1', ['AbC']],
    ['externalId eq null', "NOT coalesce(((u.external_id IS NOT NULL AND u.external_id <> '')), false)", []],
    ['externalId ne null', "(u.external_id IS NOT NULL AND u.external_id <> '')", []],
    // displayName is case-insensitive: lower() on both sides.
    ['displayName eq "Babs"', 'lower(u.display_name) = lower($slonik_1::text)', ['Babs']],
    ['displayName co "ab"', "lower(u.display_name) LIKE lower($slonik_1::text) ESCAPE '\\'", ['%ab%']],
    ['active eq true', 'u.active = $slonik_1', [true]],
    ['active ne false', 'u.active IS DISTINCT FROM $slonik_1', [false]],
    ['active pr', 'u.active IS NOT NULL', []],
    ['name.familyName eq "Jensen"', "lower((u.name->>'familyName')) = lower($slonik_1::text)", ['Jensen']],
    ['name pr', "(jsonb_typeof(u.name) = 'object' AND u.name <> '{}'::jsonb)", []],
    ['name[givenName sw "B"]', "lower((u.name->>'givenName')) LIKE lower($slonik_1::text) ESCAPE '\\'", ['B%']],
    // Other core attributes live in the attributes jsonb.
    ['title eq "Boss"', "lower((u.attributes->>'title')) = lower($slonik_1::text)", ['Boss']],
    ['profileUrl pr', "((u.attributes->>'profileUrl') IS NOT NULL AND (u.attributes->>'profileUrl') <> '')", []],
    // Enterprise extension.
    [`${ENTERPRISE}:department eq "Sales"`, "lower((u.enterprise->>'department')) = lower($slonik_1::text)", ['Sales']],
    [`${ENTERPRISE.toUpperCase()}:DEPARTMENT eq "Sales"`, "lower((u.enterprise->>'department')) = lower($slonik_1::text)", ['Sales']],
    [`${ENTERPRISE}:manager.value eq "42"`, "lower(((u.enterprise->'manager')->>'value')) = lower($slonik_1::text)", ['42']],
    [`${ENTERPRISE}:manager eq "42"`, "lower(((u.enterprise->'manager')->>'value')) = lower($slonik_1::text)", ['42']],
    // meta: dateTime values are validated in JS, then cast.
    ['meta.created gt "2024-01-31T12:00:00Z"', 'u.created_at > $slonik_1::timestamptz', ['2024-01-31T12:00:00Z']],
    ['meta.lastModified le "2024-01-31T12:00:00.123+02:00"', 'u.updated_at <= $slonik_1::timestamptz', ['2024-01-31T12:00:00.123+02:00']],
    ['meta.lastModified ne "2024-01-31"', 'u.updated_at IS DISTINCT FROM $slonik_1::timestamptz', ['2024-01-31']],
    ['meta.resourceType eq "User"', "'User'::text = $slonik_1", ['User']],
    // emails: EXISTS over the jsonb array, values compared case-insensitively.
    ['emails.value eq "A@x.org"', `EXISTS (SELECT 1 FROM ${EMAILS} WHERE lower((e.v->>'value')) = lower($slonik_1::text))`, ['A@x.org']],
    ['emails co "@x"', `EXISTS (SELECT 1 FROM ${EMAILS} WHERE lower((e.v->>'value')) LIKE lower($slonik_1::text) ESCAPE '\\')`, ['%@x%']],
    [
      'emails[type eq "work"]',
      `EXISTS (SELECT 1 FROM ${EMAILS} WHERE lower((e.v->>'type')) = lower($slonik_1::text))`,
      ['work'],
    ],
    [
      'emails[type eq "work" and value co "@x"]',
      `EXISTS (SELECT 1 FROM ${EMAILS} WHERE (lower((e.v->>'type')) = lower($slonik_1::text)) AND (lower((e.v->>'value')) LIKE lower($slonik_2::text) ESCAPE '\\'))`,
      ['work', '%@x%'],
    ],
    [
      'emails[type eq "work"].value eq "a@b"',
      `EXISTS (SELECT 1 FROM ${EMAILS} WHERE (lower((e.v->>'type')) = lower($slonik_1::text)) AND (lower((e.v->>'value')) = lower($slonik_2::text)))`,
      ['work', 'a@b'],
    ],
    [
      'emails[primary eq true].value pr',
      `EXISTS (SELECT 1 FROM ${EMAILS} WHERE ((CASE WHEN jsonb_typeof((e.v->'primary')) = 'boolean' THEN (e.v->'primary')::boolean END) = $slonik_1) AND (((e.v->>'value') IS NOT NULL AND (e.v->>'value') <> '')))`,
      [true],
    ],
    ['emails pr', `EXISTS (SELECT 1 FROM ${EMAILS})`, []],
    // ne on a multi-valued attribute: no value equals, so users without emails match too.
    ['emails.value ne "a@b"', `NOT coalesce((EXISTS (SELECT 1 FROM ${EMAILS} WHERE lower((e.v->>'value')) = lower($slonik_1::text))), false)`, ['a@b']],
    ['emails eq null', `NOT coalesce((EXISTS (SELECT 1 FROM ${EMAILS})), false)`, []],
    [
      'phoneNumbers[type eq "mobile"].value sw "+31"',
      "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.phone_numbers) = 'array' THEN u.phone_numbers ELSE '[]'::jsonb END) AS e(v) WHERE (lower((e.v->>'type')) = lower($slonik_1::text)) AND (lower((e.v->>'value')) LIKE lower($slonik_2::text) ESCAPE '\\'))",
      ['mobile', '+31%'],
    ],
    [
      'addresses[type eq "work"].country eq "NL"',
      "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof((u.attributes->'addresses')) = 'array' THEN (u.attributes->'addresses') ELSE '[]'::jsonb END) AS e(v) WHERE (lower((e.v->>'type')) = lower($slonik_1::text)) AND (lower((e.v->>'country')) = lower($slonik_2::text)))",
      ['work', 'NL'],
    ],
    // groups: through group_members.
    [`groups.value eq "${UUID}"`, `${GROUPS_OF_USER} gg.id = $slonik_1::uuid)`, [UUID]],
    [`groups eq "${UUID.toUpperCase()}"`, `${GROUPS_OF_USER} gg.id = $slonik_1::uuid)`, [UUID]],
    ['groups.value eq "nope"', `${GROUPS_OF_USER} lower(gg.id::text) = lower($slonik_1::text))`, ['nope']],
    ['groups[display eq "Ｅng"]', `${GROUPS_OF_USER} gg.display_name_key = $slonik_1)`, ['eng']],
    ['groups pr', `${GROUPS_OF_USER} TRUE)`, []],
    // Logic: parentheses around every operand, NOT coalesced so NULL (absent) counts as false.
    [
      'userName eq "a" or userName eq "b" and active eq true',
      '(u.user_name_key = $slonik_1) OR ((u.user_name_key = $slonik_2) AND (u.active = $slonik_3))',
      ['a', 'b', true],
    ],
    [
      'nickName pr or title pr',
      "(((u.attributes->>'nickName') IS NOT NULL AND (u.attributes->>'nickName') <> '')) OR (((u.attributes->>'title') IS NOT NULL AND (u.attributes->>'title') <> ''))",
      [],
    ],
    ['not (active eq true)', 'NOT coalesce((u.active = $slonik_1), false)', [true]],
    [
      'not (userName eq "a" or title pr)',
      "NOT coalesce(((u.user_name_key = $slonik_1) OR (((u.attributes->>'title') IS NOT NULL AND (u.attributes->>'title') <> ''))), false)",
      ['a'],
    ],
  ];

  it.each(cases)('%s', (filter, sqlText, values) => {
    const fragment = user(filter);
    expect(fragment.sql).toBe(sqlText);
    expect(fragment.values).toEqual(values);
  });
});

describe('compileFilter: Group', () => {
  const cases: [string, string, unknown[]][] = [
    ['displayName eq "Ｅngineering"', 'g.display_name_key = $slonik_1', ['engineering']],
    ['displayName sw "a_b"', "g.display_name_key LIKE $slonik_1 ESCAPE '\\'", ['a\\_b%']],
    [`id eq "${UUID}"`, 'g.id = $slonik_1::uuid', [UUID]],
    ['externalId eq "X"', 'g.external_id = $slonik_1', ['X']],
    [`members[value eq "${UUID}"]`, `${MEMBERS} gm.user_id = $slonik_1::uuid)`, [UUID]],
    [`members.value eq "${UUID}"`, `${MEMBERS} gm.user_id = $slonik_1::uuid)`, [UUID]],
    ['members eq "not-a-uuid"', `${MEMBERS} lower(gm.user_id::text) = lower($slonik_1::text))`, ['not-a-uuid']],
    ['members.value sw "2819"', `${MEMBERS} lower(gm.user_id::text) LIKE lower($slonik_1::text) ESCAPE '\\')`, ['2819%']],
    ['members pr', `${MEMBERS} TRUE)`, []],
    ['meta.created lt "2030-01-01T00:00:00Z"', 'g.created_at < $slonik_1::timestamptz', ['2030-01-01T00:00:00Z']],
    ['meta.resourceType eq "Group"', "'Group'::text = $slonik_1", ['Group']],
  ];

  it.each(cases)('%s', (filter, sqlText, values) => {
    const fragment = group(filter);
    expect(fragment.sql).toBe(sqlText);
    expect(fragment.values).toEqual(values);
  });
});

describe('compileFilter: values are bound, never interpolated', () => {
  const injections = ["x' OR 1=1 --", "'; DROP TABLE users; --", '\\', '$slonik_1', "');--", '%_\\', '\u2028"'];
  const templates = [
    (v: string) => `userName eq ${v}`,
    (v: string) => `displayName co ${v}`,
    (v: string) => `externalId sw ${v}`,
    (v: string) => `emails[type eq ${v}].value ew ${v}`,
    (v: string) => `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department gt ${v}`,
    (v: string) => `id eq ${v}`,
  ];
  it.each(injections)('%j', (evil) => {
    for (const template of templates) {
      // The SQL text does not depend on the value at all; the value only reaches the parameters.
      const benign = user(template('"benign"'));
      const attacked = user(template(JSON.stringify(evil)));
      expect(attacked.sql).toBe(benign.sql);
      expect(attacked.values).toHaveLength(benign.values.length);
      const core = evil.replace(/[\\%_]/g, '').toLowerCase();
      expect(attacked.values.some((v) => typeof v === 'string' && v.replace(/[\\%_]/g, '').toLowerCase().includes(core))).toBe(true);
    }
    expect(group(`displayName eq ${JSON.stringify(evil)}`).sql).toBe('g.display_name_key = $slonik_1');
  });
});

describe('compileFilter: errors are 400 invalidFilter', () => {
  const userCases: [string, RegExp][] = [
    ['foo eq "x"', /Unknown attribute 'foo' for resource type User/],
    ['name.nope eq "x"', /Unknown attribute 'name.nope'/],
    ['urn:example:custom:2.0:User:userName eq "x"', /Unknown attribute/],
    [`${ENTERPRISE}:userName eq "x"`, /Unknown attribute/],
    ['department eq "x"', /Unknown attribute 'department'/],
    ['password eq "x"', /'password' cannot be used in a filter/],
    ['password pr', /'password' cannot be used in a filter/],
    ['meta.version eq "W/\\"1\\""', /'meta.version' cannot be used in a filter/],
    ['meta.location pr', /cannot be used in a filter/],
    ['groups.$ref pr', /cannot be used in a filter/],
    ['active eq "yes"', /'active' is boolean/],
    ['active eq 1', /'active' is boolean/],
    ['active gt true', /Operator 'gt' cannot be used with boolean/],
    ['active co true', /Operator 'co' cannot be used with boolean/],
    ['emails[primary lt false]', /Operator 'lt' cannot be used with boolean/],
    ['userName eq 42', /'userName' is a string: quote the value/],
    ['userName eq true', /'userName' is a string/],
    ['emails.value eq 1', /'emails.value' is a string/],
    ['meta.created gt "yesterday"', /'meta.created' is a dateTime/],
    ['meta.created gt "2024-02-30T00:00:00Z"', /dateTime/],
    ['meta.created gt 1700000000', /dateTime/],
    ['meta.created co "2024"', /dateTime/],
    ['meta.created sw "2024-01-01"', /Operator 'sw' cannot be used with dateTime/],
    ['userName gt null', /null can only be compared with eq or ne/],
    ['name eq "x"', /'name' is complex: compare one of its sub-attributes/],
    ['meta eq "x"', /'meta' is complex/],
    ['userName[value eq "x"]', /'userName' is not a complex attribute/],
    ['userName[value eq "x"].value eq "y"', /Unknown attribute 'userName.value'/],
    ['emails[nope eq "x"]', /'nope' is not a filterable sub-attribute of 'emails'/],
    ['emails[emails.value eq "x"]', /not a filterable sub-attribute/],
    ['emails[type eq "work"].nope eq "x"', /Unknown attribute 'emails.nope'/],
    ['members pr', /Unknown attribute 'members' for resource type User/],
  ];
  it.each(userCases)('User: %s', (filter, message) => {
    const err = scimError(() => user(filter));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidFilter');
    expect(err.detail).toMatch(message);
  });

  const groupCases: [string, RegExp][] = [
    ['userName eq "x"', /Unknown attribute 'userName' for resource type Group/],
    ['members.display eq "x"', /cannot be used in a filter/],
    [`${ENTERPRISE}:department eq "x"`, /Unknown attribute/],
  ];
  it.each(groupCases)('Group: %s', (filter, message) => {
    const err = scimError(() => group(filter));
    expect(err.scimType).toBe('invalidFilter');
    expect(err.detail).toMatch(message);
  });
});

describe('compileFilter: scale', () => {
  it('compiles a 5,000-term or-chain flat', () => {
    const filter = Array.from({ length: 5000 }, (_, i) => `userName eq "u${i}"`).join(' or ');
    const fragment = compileFilter(parseFilter(filter, { maxLength: 1_000_000, maxDepth: 5 }), 'User');
    expect(fragment.values).toHaveLength(5000);
    expect(fragment.sql.startsWith('(u.user_name_key = $slonik_1) OR (u.user_name_key = $slonik_2)')).toBe(true);
  });
});

describe('isDateTime', () => {
  it.each([
    '2024-01-31',
    '2024-01-31T12:00',
    '2024-01-31T12:00:00Z',
    '2024-01-31t12:00:00z',
    '2024-01-31 12:00:00',
    '2024-02-29T00:00:00.123456Z',
    '2000-02-29T23:59:59-05:00',
    '2024-01-31T12:00:00+0530',
  ])('accepts %s', (value) => expect(isDateTime(value)).toBe(true));

  it.each([
    '',
    'yesterday',
    '2024-1-31',
    '2023-02-29',
    '1900-02-29',
    '2024-02-30',
    '2024-13-01',
    '0000-01-01',
    '2024-01-31T24:00:00Z',
    '2024-01-31T12:60:00Z',
    '2024-01-31T12:00:61Z',
    '2024-01-31T12:00:00+15:00',
    '2024-01-31T12:00:00.Z',
    '2024-01-31T12:00:00ZZ',
    '12345-01-01',
  ])('rejects %j', (value) => expect(isDateTime(value)).toBe(false));
});

describe('compileSortBy', () => {
  it.each([
    ['userName', 'User', 'u.user_name_key'],
    ['USERNAME', 'User', 'u.user_name_key'],
    ['id', 'User', 'u.id::text'],
    ['externalId', 'User', 'u.external_id'],
    ['displayName', 'User', 'lower(u.display_name)'],
    ['active', 'User', 'u.active'],
    ['name.familyName', 'User', "lower((u.name->>'familyName'))"],
    ['meta.lastModified', 'User', 'u.updated_at'],
    ['meta.created', 'Group', 'g.created_at'],
    ['title', 'User', "lower((u.attributes->>'title'))"],
    [`${ENTERPRISE}:department`, 'User', "lower((u.enterprise->>'department'))"],
    [`${ENTERPRISE}:manager.value`, 'User', "lower(((u.enterprise->'manager')->>'value'))"],
    ['urn:ietf:params:scim:schemas:core:2.0:Group:displayName', 'Group', 'g.display_name_key'],
  ] as const)('%s (%s) → %s', (path, rt, expected) => {
    const fragment = compileSortBy(path, rt);
    expect(fragment.sql).toBe(expected);
    expect(fragment.values).toEqual([]);
  });

  it.each([
    ['emails', 'User'],
    ['emails.value', 'User'],
    ['emails[type eq "work"].value', 'User'],
    ['groups.display', 'User'],
    ['name', 'User'],
    ['password', 'User'],
    ['nope', 'User'],
    ['userName', 'Group'],
    ['members.value', 'Group'],
    ['userName asc', 'User'],
    ['', 'User'],
    ['"x"', 'User'],
  ] as const)('rejects %j on %s with 400 invalidValue', (path, rt) => {
    const err = scimError(() => compileSortBy(path, rt));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidValue');
  });
});

describe('resolveFilterAttribute', () => {
  it('resolves case-insensitively and with URN prefixes', () => {
    const { target, sub } = resolveFilterAttribute('User', { uri: ENTERPRISE.toLowerCase(), attr: 'MANAGER', sub: 'VALUE' });
    expect(target.kind).toBe('complex');
    expect(sub?.name).toBe('manager.value');
    expect(resolveFilterAttribute('Group', { attr: 'displayname' }).target).toMatchObject({ kind: 'scalar', match: 'key' });
  });
});
