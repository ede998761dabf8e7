import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from './pool.js';

/**
 * The one lock order of every transaction that writes identities (SCIM requests, the app API, the
 * CLI and the worker alike). Two transactions that take locks in the same global order can wait on
 * each other but never deadlock, so every writer takes its row locks through this module:
 *
 *   1. groups, in id order
 *   2. users, in id order
 *   3. tenant-wide decisions (the mass-deprovisioning guard): a transaction-level advisory lock
 *
 * Rows that hang off a group or a user (group_members, user_roles, credentials, …) are written only
 * while their parent is locked, so they need no place in the order of their own. A statement that
 * is its own transaction and locks one row only (`scim_update_user`, the uncontended user PATCH)
 * needs none either: once it holds that lock it can wait only for its foreign keys' `KEY SHARE` on
 * the tenant's row, which no writer of identities blocks.
 *
 * Row locks are `FOR NO KEY UPDATE`, never `FOR UPDATE`: every foreign-key check (an INSERT into
 * group_members, audit_events, outbox, …) takes `FOR KEY SHARE` on the referenced row, in whatever
 * order the rows arrive, and `FOR UPDATE` conflicts with `FOR KEY SHARE` while `FOR NO KEY UPDATE`
 * does not. None of our updates change a key, so the weaker lock serialises writers just the same.
 *
 * The order is checked at run time: taking a group after a user, or a lower id after a higher one
 * of the same kind, throws `LockOrderRetry`. A writer that can only learn what to lock after it
 * has locked something later in the order (a user's groups can grow until the user is locked)
 * re-reads under the lock and, when the set changed, throws `LockOrderRetry` too: `withTenant`
 * retries the whole transaction, which then locks the right set from the start.
 */
export const ROW_LOCK = sql.fragment`FOR NO KEY UPDATE`;

const Rank = { groups: 1, users: 2, tenantGuard: 3 } as const;
type LockKind = keyof typeof Rank;

interface Ledger {
  rank: number;
  /** Highest id locked so far of the current rank (ids are uuids, compared as PostgreSQL does for uuid). */
  highest: string | undefined;
  held: Record<LockKind, Set<string>>;
}

const ledgers = new WeakMap<Tx, Ledger>();

function ledgerOf(tx: Tx): Ledger {
  let l = ledgers.get(tx);
  if (!l) {
    l = { rank: 0, highest: undefined, held: { groups: new Set(), users: new Set(), tenantGuard: new Set() } };
    ledgers.set(tx, l);
  }
  return l;
}

/** A new attempt of a transaction starts with no locks held (the connection object may be reused). */
export function forgetLocks(tx: Tx): void {
  ledgers.delete(tx);
}

/** Thrown when a transaction would take a lock out of order: the transaction is retried whole. */
export class LockOrderRetry extends Error {
  override readonly name = 'LockOrderRetry';
}

/** uuids compare bytewise in PostgreSQL, which for their canonical lower-case text is string order. */
const canonical = (ids: readonly string[]) => [...new Set(ids.map((id) => id.toLowerCase()))].sort();

/**
 * Records that `ids` of `kind` are about to be locked, after checking the order. Returns the ids
 * not yet held, sorted (what the caller must lock, in this order).
 */
export function claimLocks(tx: Tx, kind: LockKind, ids: readonly string[]): string[] {
  const l = ledgerOf(tx);
  const wanted = canonical(ids).filter((id) => !l.held[kind].has(id));
  if (wanted.length === 0) return [];
  const rank = Rank[kind];
  if (rank < l.rank) throw new LockOrderRetry(`lock order: ${kind} after a later kind`);
  if (rank === l.rank && l.highest !== undefined && wanted[0]! < l.highest) {
    throw new LockOrderRetry(`lock order: ${kind} ${wanted[0]} after ${l.highest}`);
  }
  l.rank = rank;
  l.highest = wanted[wanted.length - 1];
  for (const id of wanted) l.held[kind].add(id);
  return wanted;
}

/** True when this transaction already holds the lock of that row. */
export function holdsLock(tx: Tx, kind: LockKind, id: string): boolean {
  return ledgerOf(tx).held[kind].has(id.toLowerCase());
}

const IdRow = z.object({ id: z.string().uuid() });

/** Locks groups (that exist) in id order; returns the ids that exist. */
export async function lockGroups(tx: Tx, ids: readonly string[]): Promise<Set<string>> {
  const wanted = claimLocks(tx, 'groups', ids);
  if (wanted.length === 0) return new Set();
  return new Set(
    await tx.anyFirst(sql.type(IdRow)`
      SELECT id FROM groups WHERE id = ANY(${sql.array(wanted, 'uuid')}) ORDER BY id ${ROW_LOCK}`),
  );
}

/**
 * Locks users in id order; returns those that are live (not SCIM-deleted), read under the lock.
 * Deleted ones are locked too (their rows still exist) but not returned.
 */
export async function lockUsers(tx: Tx, ids: readonly string[]): Promise<Set<string>> {
  const wanted = claimLocks(tx, 'users', ids);
  if (wanted.length === 0) return new Set();
  const rows = await tx.any(sql.type(z.object({ id: z.string().uuid(), live: z.boolean() }))`
    SELECT id, scim_deleted_at IS NULL AS live FROM users WHERE id = ANY(${sql.array(wanted, 'uuid')}) ORDER BY id ${ROW_LOCK}`);
  return new Set(rows.filter((r) => r.live).map((r) => r.id));
}

/**
 * `lockUsers` for a member change of a group the caller has locked: every user locked in id order,
 * answering for each whether it is live and whether it is a member of the group (both read under
 * the locks; the group's lock keeps its member list still). Users that do not exist are absent.
 */
export async function lockUsersOfGroup(tx: Tx, groupId: string, ids: readonly string[]): Promise<Map<string, { live: boolean; member: boolean }>> {
  claimLocks(tx, 'users', ids);
  const all = canonical(ids);
  if (all.length === 0) return new Map();
  const rows = await tx.any(sql.type(z.object({ id: z.string().uuid(), live: z.boolean(), member: z.boolean() }))`
    SELECT u.id, u.scim_deleted_at IS NULL AS live,
           EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = u.tenant_id AND gm.group_id = ${groupId} AND gm.user_id = u.id) AS member
      FROM users u WHERE u.id = ANY(${sql.array(all, 'uuid')}) ORDER BY u.id FOR NO KEY UPDATE OF u`);
  return new Map(rows.map((r) => [r.id, { live: r.live, member: r.member }]));
}

/**
 * One decision at a time per tenant for the mass-deprovisioning guard. An advisory lock rather than
 * a row lock on `tenants`: `FOR UPDATE` there would conflict with the `FOR KEY SHARE` that every
 * insert referencing the tenant takes, stalling (and deadlocking with) the tenant's SCIM writes.
 */
export async function lockTenantGuard(tx: Tx, tenantId: string): Promise<void> {
  if (claimLocks(tx, 'tenantGuard', [tenantId]).length === 0) return;
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(hashtextextended('roster.guard:' || ${tenantId}, 0))`);
}
