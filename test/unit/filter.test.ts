import { describe, expect, it } from 'vitest';
import { type AttrPath, type FilterNode, formatFilter, parseAttrPath, parseFilter } from '../../core/scim/filter.js';
import { thrownScimError } from '../helpers/scim.js';

const limits = { maxLength: 10_000, maxDepth: 20 };
const parse = (input: string) => parseFilter(input, limits);

const p = (attr: string, sub?: string, uri?: string): AttrPath => ({ attr, ...(sub && { sub }), ...(uri && { uri }) });
const cmp = (path: AttrPath | string, op: string, value: string | number | boolean | null): FilterNode =>
  ({ kind: 'compare', path: typeof path === 'string' ? p(path) : path, op, value }) as FilterNode;
const pr = (path: AttrPath | string): FilterNode => ({ kind: 'present', path: typeof path === 'string' ? p(path) : path });
const and = (left: FilterNode, right: FilterNode): FilterNode => ({ kind: 'and', left, right });
const or = (left: FilterNode, right: FilterNode): FilterNode => ({ kind: 'or', left, right });
const not = (filter: FilterNode): FilterNode => ({ kind: 'not', filter });

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';

const scimError = thrownScimError;

describe('parseFilter: valid filters', () => {
  const cases: [string, FilterNode][] = [
    ['userName eq "bjensen"', cmp('userName', 'eq', 'bjensen')],
    ['userName ne "x"', cmp('userName', 'ne', 'x')],
    ['name.familyName co "O\'Malley"', cmp(p('name', 'familyName'), 'co', "O'Malley")],
    ['userName sw "J"', cmp('userName', 'sw', 'J')],
    ['userName ew "n"', cmp('userName', 'ew', 'n')],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'gt', '2011-05-13T04:42:34Z')],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'ge', '2011-05-13T04:42:34Z')],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'lt', '2011-05-13T04:42:34Z')],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'le', '2011-05-13T04:42:34Z')],
    ['title pr', pr('title')],
    // Operators, keywords and literals are case-insensitive (RFC 7644 §3.4.2.2).
    ['userName EQ "x"', cmp('userName', 'eq', 'x')],
    ['title PR', pr('title')],
    ['USERNAME Sw "x"', cmp('USERNAME', 'sw', 'x')],
    ['active eq TRUE', cmp('active', 'eq', true)],
    ['active eq False', cmp('active', 'eq', false)],
    ['displayName eq NULL', cmp('displayName', 'eq', null)],
    ['x eq 42', cmp('x', 'eq', 42)],
    ['x eq -1.5e3', cmp('x', 'eq', -1500)],
    ['x eq 0.25', cmp('x', 'eq', 0.25)],
    ['x eq 1E+2', cmp('x', 'eq', 100)],
    // JSON string escapes (RFC 8259 §7).
    ['x eq "a\\"b"', cmp('x', 'eq', 'a"b')],
    ['x eq "a\\\\b"', cmp('x', 'eq', 'a\\b')],
    ['x eq "\\/\\b\\f\\n\\r\\t"', cmp('x', 'eq', '/\b\f\n\r\t')],
    ['x eq "\\u00e9\\u20AC"', cmp('x', 'eq', 'é€')],
    ['x eq "\\ud83d\\ude00"', cmp('x', 'eq', '😀')],
    ['x eq "日本語 😀"', cmp('x', 'eq', '日本語 😀')],
    ['x eq ""', cmp('x', 'eq', '')],
    ['x eq "x\' OR 1=1 --"', cmp('x', 'eq', "x' OR 1=1 --")],
    // Precedence: and binds tighter than or; both associate to the left.
    ['a pr and b pr or c pr', or(and(pr('a'), pr('b')), pr('c'))],
    ['a pr or b pr and c pr', or(pr('a'), and(pr('b'), pr('c')))],
    ['a pr or b pr or c pr', or(or(pr('a'), pr('b')), pr('c'))],
    ['a pr and b pr and c pr', and(and(pr('a'), pr('b')), pr('c'))],
    ['a pr AND b pr OR c pr', or(and(pr('a'), pr('b')), pr('c'))],
    ['(a pr or b pr) and c pr', and(or(pr('a'), pr('b')), pr('c'))],
    ['a pr and (b pr or c pr)', and(pr('a'), or(pr('b'), pr('c')))],
    ['((a pr))', pr('a')],
    ['not (a pr)', not(pr('a'))],
    ['NOT(a pr)', not(pr('a'))],
    ['not (a pr) and b pr', and(not(pr('a')), pr('b'))],
    ['not (a pr or b pr)', not(or(pr('a'), pr('b')))],
    ['not (not (a pr))', not(not(pr('a')))],
    // Whitespace leniency.
    ['  userName   eq\t"x"\r\n', cmp('userName', 'eq', 'x')],
    ['(userName eq "x")and(title pr)', and(cmp('userName', 'eq', 'x'), pr('title'))],
    // Value filters (RFC 7644 §3.4.2.2 valuePath).
    [
      'emails[type eq "work" and value co "@example.com"]',
      {
        kind: 'valuePath',
        attr: p('emails'),
        filter: and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com')),
      },
    ],
    ['emails[type eq "work"].value eq "a@b"', cmp({ attr: 'emails', sub: 'value', valueFilter: cmp('type', 'eq', 'work') }, 'eq', 'a@b')],
    ['emails[type eq "work"].value pr', pr({ attr: 'emails', sub: 'value', valueFilter: cmp('type', 'eq', 'work') })],
    ['emails[not (type eq "work")]', { kind: 'valuePath', attr: p('emails'), filter: not(cmp('type', 'eq', 'work')) }],
    ['emails.value eq "a"', cmp(p('emails', 'value'), 'eq', 'a')],
    ['emails co "x"', cmp('emails', 'co', 'x')],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      and(cmp('userType', 'eq', 'Employee'), or(cmp('emails', 'co', 'example.com'), cmp(p('emails', 'value'), 'co', 'example.org'))),
    ],
    [
      'members[value eq "1"] or members[value eq "2"]',
      or(
        { kind: 'valuePath', attr: p('members'), filter: cmp('value', 'eq', '1') },
        { kind: 'valuePath', attr: p('members'), filter: cmp('value', 'eq', '2') },
      ),
    ],
    // Schema URN prefixes: the attribute is after the last colon, even when the URN holds "2.0".
    [`${ENTERPRISE}:department eq "Sales"`, cmp(p('department', undefined, ENTERPRISE), 'eq', 'Sales')],
    [`${ENTERPRISE}:manager.value eq "26118915"`, cmp(p('manager', 'value', ENTERPRISE), 'eq', '26118915')],
    [`${CORE}:userName eq "x"`, cmp(p('userName', undefined, CORE), 'eq', 'x')],
    [`${CORE}:name.givenName pr`, pr(p('name', 'givenName', CORE))],
    [
      `${CORE}:emails[type eq "work"].value co "@"`,
      cmp({ uri: CORE, attr: 'emails', sub: 'value', valueFilter: cmp('type', 'eq', 'work') }, 'co', '@'),
    ],
    ['members.$ref pr', pr(p('members', '$ref'))],
    ['x-custom_attr1 pr', pr('x-custom_attr1')],
    // A word that is a keyword elsewhere can still be an attribute name.
    ['not eq "x"', cmp('not', 'eq', 'x')],
  ];

  it.each(cases)('%s', (input, expected) => {
    expect(parse(input)).toEqual(expected);
  });
});

describe('parseFilter: malformed filters are 400 invalidFilter', () => {
  const cases: [string, string, RegExp][] = [
    ['empty input', '', /empty/],
    ['only whitespace', '   ', /empty/],
    ['unterminated string', 'userName eq "bjensen', /Unterminated string starting at position 13/],
    ['missing operator', 'userName "bjensen"', /Expected an operator after 'userName' at position 10/],
    ['missing operator before and', 'userName and title pr', /Unknown operator 'and'/],
    ['eq without value', 'userName eq', /Expected a value after 'eq' at position 12/],
    ['eq followed by and', 'userName eq and title pr', /Expected a value after 'eq'.*strings must be quoted/],
    ['unquoted string value', 'userName eq bjensen', /strings must be quoted/],
    ['trailing garbage', 'userName eq "x" garbage', /Expected 'and', 'or' or end of filter at position 17/],
    ['trailing paren', 'userName eq "x")', /position 16/],
    ['unknown operator', 'userName like "x"', /Unknown operator 'like'/],
    ['symbolic operator', 'userName = "x"', /Unexpected character '=' .*use eq/],
    ['unclosed [', 'emails[type eq "work"', /Expected '\]' closing the value filter/],
    ['unclosed (', '(userName eq "x"', /Expected '\)'/],
    ['stray ]', 'userName eq "x"]', /Expected 'and', 'or'/],
    ['empty parentheses', '()', /Expected an attribute name/],
    ['empty value filter', 'emails[]', /Expected an attribute name/],
    ['dangling and', 'userName eq "x" and', /Expected an attribute name.*end of filter/],
    ['leading or', 'or userName eq "x"', /Unknown operator 'userName'/],
    ['not without parentheses', 'not userName eq "x"', /Expected '\(' after 'not'/],
    ['nested value filter', 'emails[type[x eq 1] pr]', /cannot be nested/],
    ['value filter on sub-attribute', 'name.givenName[x eq 1]', /must follow a multi-valued attribute/],
    ['value filter followed by operator', 'emails[type eq "work"] eq "x"', /Expected 'and', 'or'/],
    ['dot without sub-attribute', 'emails[type eq "work"]. eq "x"', /Expected a sub-attribute name/],
    ['two sub-attribute levels', 'name.givenName.x eq "a"', /Invalid attribute path/],
    ['trailing dot', 'name. eq "a"', /Invalid attribute path/],
    ['bad URN', 'foo:bar eq "a"', /Invalid schema URN/],
    ['empty URN segment', 'urn::x:userName eq "a"', /Invalid schema URN/],
    ['URN without attribute', `${ENTERPRISE}: eq "a"`, /Invalid attribute path/],
    ['attribute starting with a digit', 'userName eq "x" and 1abc pr', /Invalid number/],
    ['invalid number', 'x eq 01', /Invalid number '01'/],
    ['invalid number sign', 'x eq +1', /Unexpected character '\+'/],
    ['huge number', 'x eq 1e999', /Invalid number/],
    ['bad escape', 'x eq "\\x"', /Invalid escape \\x/],
    ['short unicode escape', 'x eq "\\u12"', /Invalid \\u escape/],
    ['escaped NUL', 'x eq "\\u0000"', /NUL/],
    ['raw NUL inside string', 'x eq "a\0b"', /NUL/],
    ['raw newline inside string', 'x eq "a\nb"', /Control character U\+000A/],
    ['NUL outside string', 'userName eq "x"\0', /Unexpected character U\+0000 at position 16/],
    ['control char outside string', 'userName\u0007eq "x"', /U\+0007/],
    ['non-ASCII outside string', 'userNäme eq "x"', /U\+00E4/],
    ['single-quoted string', "userName eq 'x'", /Unexpected character '''/],
    ['backslash at end of string', 'x eq "abc\\', /Unterminated string/],
    ['over maxLength', `userName eq "${'a'.repeat(10_000)}"`, /longer than 10000 characters/],
    ['over maxDepth', `${'('.repeat(21)}a pr${')'.repeat(21)}`, /nested more than 20 levels/],
    ['over maxDepth with not', `${'not ('.repeat(21)}a pr${')'.repeat(21)}`, /nested more than 20 levels/],
  ];

  it.each(cases)('%s', (_name, input, message) => {
    const err = scimError(() => parse(input));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidFilter');
    expect(err.detail).toMatch(message);
  });

  it('rejects 100k nested parentheses with invalidFilter, not a RangeError', () => {
    const deep = `${'('.repeat(100_000)}userName eq "x"${')'.repeat(100_000)}`;
    for (const maxDepth of [32, 1e9, Number.POSITIVE_INFINITY]) {
      const err = scimError(() => parseFilter(deep, { maxLength: 1_000_000, maxDepth }));
      expect(err.scimType).toBe('invalidFilter');
      expect(err.detail).toMatch(/nested more than/);
    }
  });

  it('rejects 100k nested not( and value filters the same way', () => {
    const nots = `${'not('.repeat(100_000)}a pr${')'.repeat(100_000)}`;
    expect(scimError(() => parseFilter(nots, { maxLength: 1_000_000, maxDepth: 1e9 })).scimType).toBe('invalidFilter');
    const brackets = `${'a['.repeat(50_000)}b pr${']'.repeat(50_000)}`;
    expect(scimError(() => parseFilter(brackets, { maxLength: 1_000_000, maxDepth: 1e9 })).scimType).toBe('invalidFilter');
  });

  it('accepts nesting exactly at maxDepth', () => {
    expect(parseFilter(`${'('.repeat(20)}a pr${')'.repeat(20)}`, limits)).toEqual(pr('a'));
    expect(parseFilter('emails[type eq "w"]', { maxLength: 100, maxDepth: 1 }).kind).toBe('valuePath');
    expect(scimError(() => parseFilter('emails[type eq "w"]', { maxLength: 100, maxDepth: 0 })).scimType).toBe('invalidFilter');
  });

  it('parses a long and-chain without recursion trouble', () => {
    const chain = Array.from({ length: 20_000 }, (_, i) => `a${i} pr`).join(' and ');
    const node = parseFilter(chain, { maxLength: 1_000_000, maxDepth: 10 });
    expect(node.kind).toBe('and');
    expect(formatFilter(node)).toBe(chain);
  });

  it('rejects non-string input as invalidFilter', () => {
    expect(scimError(() => parseFilter(undefined as unknown as string, limits)).scimType).toBe('invalidFilter');
  });
});

describe('parseAttrPath', () => {
  it.each([
    ['userName', p('userName')],
    ['name.givenName', p('name', 'givenName')],
    [`${ENTERPRISE}:manager.value`, p('manager', 'value', ENTERPRISE)],
    ['members[value eq "2819c223"]', { attr: 'members', valueFilter: cmp('value', 'eq', '2819c223') }],
    ['emails[type eq "work"].value', { attr: 'emails', sub: 'value', valueFilter: cmp('type', 'eq', 'work') }],
  ] as [string, AttrPath][])('%s', (input, expected) => {
    expect(parseAttrPath(input)).toEqual(expected);
  });

  it.each(['', 'userName eq "x"', 'emails[type eq "work"', 'a.b.c', '"x"'])('rejects %j', (input) => {
    expect(scimError(() => parseAttrPath(input)).scimType).toBe('invalidFilter');
  });
});

describe('formatFilter', () => {
  it.each([
    ['a pr and (b pr or c pr)', 'a pr and (b pr or c pr)'],
    ['(a pr and b pr) or c pr', 'a pr and b pr or c pr'],
    ['a pr or (b pr or c pr)', 'a pr or (b pr or c pr)'],
    ['NOT ( x EQ "a\\"b" )', 'not (x eq "a\\"b")'],
    ['emails[type eq "work"].value co "@"', 'emails[type eq "work"].value co "@"'],
  ])('%s → %s', (input, printed) => {
    expect(formatFilter(parse(input))).toBe(printed);
    expect(parse(printed)).toEqual(parse(input));
  });
});
