import { describe, expect, it } from 'vitest';
import { diffFields, roleEffects, showValue } from '../../portal/src/features/approvals/diff.js';
import { formatSpan, outcomeMessage } from '../../portal/src/features/approvals/words.js';

/** The request page's pure parts: the field diff approvers read, the dry-run effects, the wording. */
describe('approvals request page helpers', () => {
  it('diffs before/after field by field: changed, added, removed, same; scalar lists compare whole', () => {
    const before = { connection: { id: 'c1', name: 'Okta' }, liveTokens: ['a', 'b'] };
    const after = { connection: { id: 'c1', name: 'Okta' }, liveTokens: ['a', 'b', '(new token)'], previousTokensStopAfterSeconds: 60 };
    expect(diffFields(before, after)).toEqual([
      { path: 'connection.id', before: 'c1', after: 'c1', change: 'same' },
      { path: 'connection.name', before: 'Okta', after: 'Okta', change: 'same' },
      { path: 'liveTokens', before: ['a', 'b'], after: ['a', 'b', '(new token)'], change: 'changed' },
      { path: 'previousTokensStopAfterSeconds', before: undefined, after: 60, change: 'added' },
    ]);
    expect(diffFields({ endpointId: 'e', url: 'https://x' }, { endpointId: 'e', deleted: true }).filter((d) => d.change !== 'same')).toEqual([
      { path: 'deleted', before: undefined, after: true, change: 'added' },
      { path: 'url', before: 'https://x', after: undefined, change: 'removed' },
    ]);
    // Lists of objects are compared item by item; a null side shows every field as added.
    expect(diffFields({ a: [{ k: 1 }] }, { a: [{ k: 2 }] })).toEqual([{ path: 'a[0].k', before: 1, after: 2, change: 'changed' }]);
    expect(diffFields(null, { role: 'viewer' })).toEqual([{ path: 'role', before: undefined, after: 'viewer', change: 'added' }]);
    expect(diffFields({ role: null }, { role: 'viewer' })).toEqual([{ path: 'role', before: null, after: 'viewer', change: 'changed' }]);
  });

  it('shows values readably', () => {
    expect([showValue(null), showValue([]), showValue(['admin', 'member']), showValue(3), showValue(false), showValue({ a: 1 })]).toEqual(['none', 'none', 'admin, member', '3', 'false', '{"a":1}']);
  });

  it("reads a role mapping's dry run from the request's effects, and nothing from other effects", () => {
    const effects = { affectedUsers: 3, fingerprint: 'f', changes: [{ userId: 'u1', userName: 'ann', displayName: null, gains: ['viewer'], losses: [] }, { bogus: true }] };
    expect(roleEffects(effects)).toEqual({ affectedUsers: 3, changes: [{ userId: 'u1', userName: 'ann', displayName: null, gains: ['viewer'], losses: [] }] });
    expect(roleEffects({ released: ['x'] })).toBeNull();
    expect(roleEffects(undefined)).toBeNull();
  });

  it('says each typed outcome as a sentence, and spans of time briefly', () => {
    expect(outcomeMessage('refused_requester', 1).text).toBe('You requested this change, so someone else must approve it.');
    expect(outcomeMessage('recorded', 1).text).toContain('It needs 1 more approval before it applies.');
    expect(outcomeMessage('recorded', 2).text).toContain('It needs 2 more approvals');
    expect(outcomeMessage('approved', 0).tone).toBe('success');
    expect(outcomeMessage('refused_subject', 0).tone).toBe('warning');
    expect([formatSpan(40_000), formatSpan(5 * 60_000), formatSpan(3 * 3600_000 + 120_000), formatSpan(6 * 86_400_000 + 23 * 3600_000)]).toEqual(['40 s', '5 min', '3 h 2 min', '6 d 23 h']);
  });
});
