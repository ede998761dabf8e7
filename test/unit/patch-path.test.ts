import { describe, expect, it } from 'vitest';
import { ScimError } from '../../core/errors.js';
import { parseAttrPath, parseFilter } from '../../core/scim/filter.js';
import { parsePath } from '../../core/scim/patch.js';

// PATCH paths go through the one SCIM filter parser (core/scim/filter.ts): the value filter of a
// path is the tree parseFilter builds for the same text, and failures keep PATCH's scimType.
describe('PATCH paths use the one filter parser', () => {
  it('a value filter is the tree parseFilter builds for the same text', () => {
    const filter = 'type eq "work" and (value co "@example.com" or not (primary eq true))';
    const p = parsePath(`emails[${filter}].value`);
    expect(p).toEqual({ raw: `emails[${filter}].value`, attrPath: 'emails', sub: 'value', filter: parseFilter(filter, { maxLength: 8192, maxDepth: 33 }) });
    expect(p.filter).toEqual(parseAttrPath(`emails[${filter}]`).valueFilter);
  });

  it('dotted and URN-prefixed paths keep their text as attrPath', () => {
    const manager = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value';
    expect(parsePath(manager)).toEqual({ raw: manager, attrPath: manager });
    expect(parsePath(' name.givenName ')).toEqual({ raw: 'name.givenName', attrPath: 'name.givenName' });
  });

  it.each([
    ['emails[type eq "work"', /Expected/],
    ['emails[type eq work]', /quoted/],
    ['emails[emails[type eq "a"]]', /nested/],
    ['emails[urn:acme:type eq "a"]', /schema URNs/],
    ['emails[constructor eq "a"]', /not an attribute/],
  ])('%s → 400 invalidPath (%s)', (path, message) => {
    let err: unknown;
    try {
      parsePath(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScimError);
    expect((err as ScimError).scimType).toBe('invalidPath');
    expect((err as ScimError).detail).toMatch(message);
  });
});
