import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../../core/errors.js';
import { type AttrPath, COMPARE_OPS, type CompareValue, type FilterNode, formatFilter, parseFilter } from '../../core/scim/filter.js';
import { compileFilter } from '../../core/scim/filter-sql.js';

const limits = { maxLength: 4000, maxDepth: 16 };

/** The contract of the SCIM filter surface: an AST / fragment, or a 400 ScimError, nothing else. */
function checkTotal(input: string): void {
  let node: FilterNode;
  try {
    node = parseFilter(input, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(ScimError);
    expect((e as ScimError).status).toBe(400);
    expect((e as ScimError).scimType).toBe('invalidFilter');
    return;
  }
  for (const rt of ['User', 'Group'] as const) {
    try {
      const fragment = compileFilter(node, rt);
      expect(placeholders(fragment.sql)).toBe(fragment.values.length);
    } catch (e) {
      expect(e).toBeInstanceOf(ScimError);
      expect((e as ScimError).status).toBe(400);
    }
  }
  // Whatever parses prints back to a filter that parses to the same tree.
  expect(parseFilter(formatFilter(node), { maxLength: 1_000_000, maxDepth: 64 })).toEqual(node);
}

/** Every value is a parameter: the fragment numbers one placeholder per bound value. */
const placeholders = (text: string) => new Set(text.match(/\$slonik_\d+/g) ?? []).size;

const TOKENS = [
  ' ', ' ', ' ', '(', ')', '[', ']', '"', '\\', '.', ':', ' and ', ' or ', 'not', 'not (', ' eq ', ' ne ', ' co ',
  ' sw ', ' gt ', ' le ', ' pr', 'EQ', 'userName', 'emails', 'value', 'type', 'name', 'givenName', 'active',
  'members', 'groups', 'display', 'meta', 'created', 'password', 'id', 'displayName', 'title', 'primary', '"x"',
  '"%"', '"a\\"b"', '"\\u0041"', '"\\u0000"', '"2024-01-01T00:00:00Z"', '"2024-02-30"', '12', '-1.5e3', '01', 'true',
  'False', 'null', 'urn:ietf:params:scim:schemas:core:2.0:User:', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:',
  'department', 'manager', '$ref', '\0', '\t', '\n', '=', "'", 'é', '😀', '\ud800',
];

const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((parts) => parts.join(''));

describe('parseFilter/compileFilter never fail with anything but a 400 ScimError', () => {
  it('fc.string()', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), checkTotal), { numRuns: 1000 });
  });

  it('full-unicode strings (binary code points, control characters included)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), checkTotal), { numRuns: 1000 });
  });

  it('grapheme strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), checkTotal), { numRuns: 500 });
  });

  it('strings built from filter tokens', () => {
    fc.assert(fc.property(tokenSoup, checkTotal), { numRuns: 5000 });
  });

  it('deep and unbalanced nesting', () => {
    const nesting = fc.tuple(fc.constantFrom('(', 'not (', 'emails[', 'not('), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 }));
    fc.assert(
      fc.property(nesting, ([open, opens, closes]) => {
        checkTotal(`${open.repeat(opens)}userName eq "x"${(open === 'emails[' ? ']' : ')').repeat(closes)}`.slice(0, limits.maxLength));
      }),
      { numRuns: 200 },
    );
  });
});

// ---- Round trip: random well-formed ASTs print to text that parses back to the same AST. ----

const attrName = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,10}$/),
  fc.constantFrom('userName', 'emails', 'name', 'and', 'or', 'not', 'eq', 'pr', 'true', 'null', 'value', 'Type'),
);
const subName = fc.oneof(attrName, fc.constant('$ref'));
const uri = fc.oneof(
  fc.constantFrom(
    'urn:ietf:params:scim:schemas:core:2.0:User',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
    'URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP',
  ),
  fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/), { minLength: 1, maxLength: 5 }).map((segs) => `urn:${segs.join(':')}`),
);
const simplePath: fc.Arbitrary<AttrPath> = fc.record({ uri, attr: attrName, sub: subName }, { requiredKeys: ['attr'] });

const value: fc.Arbitrary<CompareValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !s.includes('\0')),
  fc.string({ maxLength: 10 }).filter((s) => !s.includes('\0')),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.boolean(),
  fc.constant(null),
);
const op = fc.constantFrom(...COMPARE_OPS);

interface Vocabulary {
  /** Paths of compare/present leaves. */
  readonly path: fc.Arbitrary<AttrPath>;
  /** The attribute a value filter hangs on, and the sub-attribute after `]`. */
  readonly base: fc.Arbitrary<AttrPath>;
  readonly sub: fc.Arbitrary<string>;
  /** Paths inside `attr[…]`. */
  readonly inner: fc.Arbitrary<AttrPath>;
}

/** Filters as allowed at the top level, or inside `attr[…]` (no value paths there). */
function filterArb(words: Vocabulary, inValue = false): fc.Arbitrary<FilterNode> {
  const path = inValue ? words.inner : words.path;
  return fc.letrec<{ node: FilterNode }>((tie) => {
    const node = tie('node');
    const branches: fc.Arbitrary<FilterNode>[] = [
      fc.record({ kind: fc.constant('compare' as const), path, op, value }),
      fc.record({ kind: fc.constant('present' as const), path }),
      fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), left: node, right: node }),
      fc.record({ kind: fc.constant('not' as const), filter: node }),
    ];
    if (!inValue) {
      const inner = filterArb(words, true);
      branches.push(
        fc.record({ kind: fc.constant('valuePath' as const), attr: words.base, filter: inner }),
        fc
          .tuple(words.base, inner, words.sub, op, value, fc.boolean())
          .map(([base, valueFilter, sub, o, v, isPresent]): FilterNode => {
            const withSub = { ...base, sub, valueFilter };
            return isPresent ? { kind: 'present', path: withSub } : { kind: 'compare', path: withSub, op: o, value: v };
          }),
      );
    }
    return { node: fc.oneof({ maxDepth: 4, depthSize: 'small' }, ...branches) };
  }).node;
}

const anyWords: Vocabulary = {
  path: simplePath,
  base: fc.record({ uri, attr: attrName }, { requiredKeys: ['attr'] }),
  sub: subName,
  inner: simplePath,
};

describe('formatFilter / parseFilter round trip', () => {
  it('parse(format(ast)) deep-equals ast', () => {
    fc.assert(
      fc.property(filterArb(anyWords), (ast) => {
        const text = formatFilter(ast);
        expect(parseFilter(text, { maxLength: 1_000_000, maxDepth: 64 })).toEqual(ast);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- Compilation of well-formed filters over real catalogue names. ----

const catalogueAttr = fc.constantFrom(
  'id', 'externalId', 'userName', 'USERNAME', 'displayName', 'active', 'name', 'emails', 'phoneNumbers', 'groups',
  'members', 'meta', 'title', 'addresses', 'password', 'department', 'manager', 'roles', 'x509Certificates',
);
const catalogueSub = fc.constantFrom('value', 'type', 'primary', 'display', 'givenName', 'created', 'lastModified', 'resourceType', 'country', '$ref');
const catalogueUri = fc.constantFrom('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
const catalogueWords: Vocabulary = {
  path: fc.record({ uri: catalogueUri, attr: catalogueAttr, sub: catalogueSub }, { requiredKeys: ['attr'] }),
  base: fc.record({ uri: catalogueUri, attr: catalogueAttr }, { requiredKeys: ['attr'] }),
  sub: catalogueSub,
  inner: fc.record({ attr: catalogueSub }),
};

describe('compileFilter over catalogue attributes', () => {
  it('returns a fully parameterised fragment or a 400 ScimError', () => {
    fc.assert(
      fc.property(filterArb(catalogueWords), fc.constantFrom('User' as const, 'Group' as const), (ast, rt) => {
        try {
          const fragment = compileFilter(ast, rt);
          expect(placeholders(fragment.sql)).toBe(fragment.values.length);
        } catch (e) {
          expect(e).toBeInstanceOf(ScimError);
          expect((e as ScimError).status).toBe(400);
          expect((e as ScimError).scimType).toBe('invalidFilter');
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('mutated well-formed filters', () => {
  // Valid filters with one edit (a cut, a splice of a token, a swap) reach the parser's deeper
  // error paths that random text rarely gets to.
  const mutated = fc
    .tuple(filterArb(catalogueWords), fc.nat(), fc.nat(), fc.constantFrom(...TOKENS, ''), fc.constantFrom('cut', 'insert', 'swap'))
    .map(([ast, a, b, token, how]) => {
      const text = formatFilter(ast);
      const i = a % (text.length + 1);
      const j = i + (b % 8);
      if (how === 'cut') return text.slice(0, i) + text.slice(j);
      if (how === 'insert') return text.slice(0, i) + token + text.slice(i);
      return text.slice(0, i) + text.slice(j, j + 3) + text.slice(i, j) + text.slice(j + 3);
    });

  it('still parse or fail with 400 invalidFilter, and compile or fail with 400', () => {
    fc.assert(fc.property(mutated, checkTotal), { numRuns: 3000 });
  });
});
