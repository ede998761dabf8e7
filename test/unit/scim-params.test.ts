import { describe, expect, it } from 'vitest';
import { parseScimParams, ScimListQuery, ScimSearchRequest } from '../../api/scim-schemas.js';
import { thrownScimError } from '../helpers/scim.js';

/** List parameters are validated by the same schemas /openapi.json shows (api/scim-schemas.ts). */
describe('parseScimParams', () => {
  it('reads names in any case and keeps the values', () => {
    expect(parseScimParams(ScimListQuery, { FILTER: 'userName eq "a"', startindex: '2', Count: '10', sortOrder: 'Descending' })).toEqual({
      filter: 'userName eq "a"',
      startIndex: '2',
      count: '10',
      sortOrder: 'Descending',
    });
  });

  it.each([
    ['a repeated sortOrder', { sortOrder: ['ascending', 'descending'] }, 'invalidValue'],
    ['a repeated filter', { filter: ['a pr', 'b pr'] }, 'invalidFilter'],
    ['an unknown sortOrder', { sortOrder: 'sideways' }, 'invalidValue'],
    ['a hexadecimal startIndex', { startIndex: '0x10' }, 'invalidValue'],
    ['a fractional count', { count: '1.5' }, 'invalidValue'],
  ])('%s is 400 %s', (_name, query, scimType) => {
    const err = thrownScimError(() => parseScimParams(ScimListQuery, query));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe(scimType);
  });

  it('a SearchRequest takes integers, integer strings and attribute lists', () => {
    expect(parseScimParams(ScimSearchRequest, { startIndex: 5, count: '7', attributes: ['userName', 'emails'] })).toMatchObject({
      startIndex: 5,
      count: '7',
      attributes: ['userName', 'emails'],
    });
    expect(thrownScimError(() => parseScimParams(ScimSearchRequest, { count: 'many' })).scimType).toBe('invalidValue');
  });
});
