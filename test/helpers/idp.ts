import { PATCH_OP } from './scim.js';

/**
 * What Okta and Entra actually send for the writes a provisioning run is made of (see
 * shared/docs/scim.md), as { method, path, body } for `stack.scim`. One builder per dialect so
 * tests exercise both spellings of the same intent.
 */
export type Dialect = 'okta' | 'entra';

export interface ScimRequest {
  method: string;
  path: string;
  body?: unknown;
}

const patch = (path: string, ...ops: unknown[]): ScimRequest => ({ method: 'PATCH', path, body: { schemas: [PATCH_OP], Operations: ops } });

export const idp = {
  lookupUser(d: Dialect, userName: string, externalId: string): ScimRequest {
    const filter = d === 'okta' ? `userName eq "${userName}"` : `externalId eq "${externalId}"`;
    return { method: 'GET', path: `/Users?filter=${encodeURIComponent(filter)}&startIndex=1&count=100` };
  },
  createUser(d: Dialect, userName: string, externalId: string, displayName: string): ScimRequest {
    const base = { userName, externalId, displayName, active: true, name: { givenName: displayName, familyName: 'Test' } };
    return {
      method: 'POST',
      path: '/Users',
      // Okta sends a placeholder password even with password sync off.
      body: d === 'okta' ? { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], ...base, password: 'placeholder-Pa55!' } : { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], ...base },
    };
  },
  /** Okta profile updates are PUTs carrying read-only fields and `groups: []` (which must not wipe memberships). */
  rename(d: Dialect, id: string, user: { userName: string; externalId: string; active: boolean }, displayName: string): ScimRequest {
    if (d === 'okta') {
      return {
        method: 'PUT',
        path: `/Users/${id}`,
        body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], id, ...user, displayName, groups: [], meta: { resourceType: 'User' } },
      };
    }
    return patch(`/Users/${id}`, { op: 'Replace', path: 'displayName', value: displayName });
  },
  setActive(d: Dialect, id: string, active: boolean): ScimRequest {
    if (d === 'okta') return patch(`/Users/${id}`, { op: 'replace', value: { active } });
    // Entra without the aadOptscim062020 flag: a capitalised op and a string boolean.
    return patch(`/Users/${id}`, { op: 'Replace', path: 'active', value: active ? 'True' : 'False' });
  },
  addMembers(d: Dialect, groupId: string, userIds: readonly string[]): ScimRequest {
    return patch(`/Groups/${groupId}`, { op: d === 'okta' ? 'add' : 'Add', path: 'members', value: userIds.map((value) => ({ value })) });
  },
  removeMembers(d: Dialect, groupId: string, userIds: readonly string[]): ScimRequest {
    if (d === 'okta') return patch(`/Groups/${groupId}`, ...userIds.map((id) => ({ op: 'remove', path: `members[value eq "${id}"]` })));
    return patch(`/Groups/${groupId}`, { op: 'Remove', path: 'members', value: userIds.map((value) => ({ value })) });
  },
  /** Okta's "push now": the full member list, even empty. */
  replaceMembers(groupId: string, userIds: readonly string[]): ScimRequest {
    return patch(`/Groups/${groupId}`, { op: 'replace', path: 'members', value: userIds.map((value) => ({ value })) });
  },
};

/** Runs `fn` over `items` with at most `limit` in flight (an IdP's request concurrency). */
export async function inFlight<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Splits `items` into chunks of `size` (IdPs push at most ~256 members per PATCH). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
