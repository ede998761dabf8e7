import { z } from 'zod';
import { changeKind } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { findUserIdByUserName } from '../repositories/credentials.js';
import { listOpenHolds } from './queries.js';
import { releaseHeldLeavers } from './service.js';

/**
 * Releasing the mass-deprovisioning guard's hold as an approval request: the guard exists because
 * a mass leaver wave may be a mistake (or an attack), so letting it proceed takes a second person.
 * Once applied, the released leavers' workflows are signalled (deps.releaseHolds) from `verify`.
 */

const ReleasePayload = z.object({ userId: z.string().uuid().optional(), userName: z.string().min(1).max(500).optional() }).strict();

export const tenantChangeKinds = [
  changeKind({
    kind: 'guard.release',
    payload: ReleasePayload,
    async describe(tx, ctx, _deps, p) {
      let userId = p.userId;
      if (p.userName !== undefined) {
        userId = (await findUserIdByUserName(tx, ctx.tenantId, p.userName)) ?? undefined;
        if (!userId) throw new DomainError(404, 'not_found', `no user "${p.userName}" in this tenant`);
      }
      const held = (await listOpenHolds(tx, ctx.tenantId, 10_000)).filter((h) => !userId || h.userId === userId);
      // Releasing everyone when nobody is held is a no-op, as a direct release always was.
      if (userId && held.length === 0) throw new DomainError(404, 'not_found', 'that identity is not held');
      const ids = held.map((h) => h.userId).sort();
      return {
        summary: userId ? `Release the held leaver ${held[0]?.userName ?? userId}` : `Release all ${held.length} held leavers (their access is revoked)`,
        before: { heldUserIds: ids },
        after: { heldUserIds: [], released: ids },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      const released = await releaseHeldLeavers(tx, ctx, p);
      return { result: { released } };
    },
    async verify(db, ctx, deps, _p, applied) {
      const releasedIds = (applied.released as string[] | undefined) ?? [];
      // Committed: the held workflows go on at once instead of at their next re-check.
      await deps.releaseHolds?.(ctx.tenantId, releasedIds, 'approval');
      const released = new Set(releasedIds);
      const stillHeld = (await withTenant(db, ctx.tenantId, (tx) => listOpenHolds(tx, ctx.tenantId, 10_000))).filter((h) => released.has(h.userId));
      return { ok: stillHeld.length === 0, checks: [{ name: 'no released identity is held', ok: stillHeld.length === 0 }] };
    },
  }),
];
