import { describe, expect, it } from 'vitest';
import { canonicalJson, changeHash } from '../../core/approvals/change-hash.js';

describe('change hash', () => {
  it('canonical JSON sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });

  it('binds kind, before and after: key order does not matter, any value does', () => {
    const base = changeHash('scim_connection.create', { before: { x: 1, y: 2 }, after: { z: [1] } });
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(changeHash('scim_connection.create', { before: { y: 2, x: 1 }, after: { z: [1] } })).toBe(base);
    expect(changeHash('scim_connection.rotate', { before: { x: 1, y: 2 }, after: { z: [1] } })).not.toBe(base);
    expect(changeHash('scim_connection.create', { before: { x: 1, y: 2 }, after: { z: [2] } })).not.toBe(base);
  });
});
