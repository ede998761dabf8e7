import { describe, expect, it } from 'vitest';
import { claimLocks, forgetLocks, holdsLock, LockOrderRetry } from '../../core/db/locks.js';
import type { Tx } from '../../core/db/pool.js';

// The ledger only keys on the transaction object: claims are checked before any SQL runs.
const tx = () => ({}) as unknown as Tx;
const A = '10000000-0000-4000-8000-000000000000';
const B = '20000000-0000-4000-8000-000000000000';
const C = 'c0000000-0000-4000-8000-000000000000';

describe('the lock order ledger (core/db/locks.ts)', () => {
  it('hands out ids sorted as PostgreSQL orders uuids, without duplicates or ones already held', () => {
    const t = tx();
    expect(claimLocks(t, 'users', [C, A, B.toUpperCase(), A])).toEqual([A, B, C]);
    expect(claimLocks(t, 'users', [A, C])).toEqual([]);
    expect(holdsLock(t, 'users', B)).toBe(true);
  });

  it('allows groups, then users, then the tenant guard, each in increasing id order', () => {
    const t = tx();
    expect(claimLocks(t, 'groups', [B])).toEqual([B]);
    expect(claimLocks(t, 'groups', [C])).toEqual([C]);
    expect(claimLocks(t, 'users', [A])).toEqual([A]);
    expect(claimLocks(t, 'tenantGuard', [A])).toEqual([A]);
  });

  it('refuses a lower id after a higher one of the same kind', () => {
    const t = tx();
    claimLocks(t, 'users', [B]);
    expect(() => claimLocks(t, 'users', [A])).toThrow(LockOrderRetry);
  });

  it('refuses a group after a user, and a user after the guard', () => {
    const t = tx();
    claimLocks(t, 'users', [C]);
    expect(() => claimLocks(t, 'groups', [A])).toThrow(LockOrderRetry);
    const u = tx();
    claimLocks(u, 'tenantGuard', [A]);
    expect(() => claimLocks(u, 'users', [C])).toThrow(LockOrderRetry);
  });

  it('starts a retried transaction with nothing held', () => {
    const t = tx();
    claimLocks(t, 'users', [C]);
    forgetLocks(t);
    expect(holdsLock(t, 'users', C)).toBe(false);
    expect(claimLocks(t, 'groups', [A])).toEqual([A]);
  });
});
