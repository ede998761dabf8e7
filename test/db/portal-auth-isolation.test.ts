import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { hashToken } from '../../core/portal-auth/tokens.js';
import { portalClient, portalSignIn } from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The portal's tenant tables hold rows of two tenants here (tenancy.test.ts checks RLS is on for
 * every tenant table; this fills them): tenant A's transactions never see or touch tenant B's, and
 * the cross-tenant entry points answer only what they are asked.
 */
const PORTAL_TABLES = ['portal_users', 'portal_user_roles', 'portal_setup_links', 'portal_sessions', 'portal_recovery_codes'];
const count = z.object({ n: z.number() });

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
let bUserId: string;

beforeAll(async () => {
  stack = await startStack();
  [a, b] = await Promise.all([stack.createTenant(), stack.createTenant()]);
  await portalClient(stack, a, { roles: ['admin'] });
  const bAdmin = await portalClient(stack, b, { roles: ['admin'] });
  bUserId = bAdmin.userId;
  await portalSignIn(stack, b.slug, bAdmin.email, bAdmin.password);
  // Recovery codes for B (through TOTP enrolment would need a code; insert as the owner).
  await stack.owner.query(sql.unsafe`
    INSERT INTO portal_recovery_codes (tenant_id, user_id, code_hash) VALUES (${b.id}, ${bUserId}, ${sql.binary(hashToken('x'))})`);
});
afterAll(async () => stack?.close());

describe('portal tables under RLS', () => {
  it('both tenants have rows in every portal table', async () => {
    for (const table of PORTAL_TABLES) {
      const n = await stack.owner.oneFirst(sql.type(count)`SELECT count(DISTINCT tenant_id)::int AS n FROM ${sql.identifier([table])} WHERE tenant_id IN (${a.id}, ${b.id})`);
      expect(n, table).toBeGreaterThanOrEqual(table === 'portal_recovery_codes' ? 1 : 2);
    }
  });

  it("tenant A's transaction sees none of B's rows and cannot change or add any", async () => {
    await withTenant(stack.app, a.id, async (tx) => {
      for (const table of PORTAL_TABLES) {
        expect(await tx.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])} WHERE tenant_id <> ${a.id}`), table).toBe(0);
      }
      expect((await tx.query(sql.unsafe`UPDATE portal_users SET status = 'disabled' WHERE id = ${bUserId}`)).rowCount).toBe(0);
      expect((await tx.query(sql.unsafe`UPDATE portal_sessions SET revoked_at = now() WHERE user_id = ${bUserId}`)).rowCount).toBe(0);
    });
    await expect(
      withTenant(stack.app, a.id, (tx) => tx.query(sql.unsafe`INSERT INTO portal_user_roles (tenant_id, user_id, role) VALUES (${b.id}, ${bUserId}, 'auditor')`)),
    ).rejects.toThrow(/row-level security/);
    const live = await stack.owner.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM portal_sessions WHERE user_id = ${bUserId} AND revoked_at IS NULL`);
    expect(live).toBe(2);
  });

  it('without a tenant the app role sees no portal rows; the entry points need the exact secret', async () => {
    for (const table of PORTAL_TABLES) {
      expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])}`), table).toBe(0);
    }
    expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM portal_session_resolve(${sql.binary(hashToken('guess'))}, 1800, 60)`)).toBe(0);
    expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM portal_setup_link_resolve(${sql.binary(hashToken('guess'))})`)).toBe(0);
    // Sign-in lookup answers one (tenant, e-mail) pair, never a list.
    expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM portal_sign_in_lookup(${b.slug}, '%')`)).toBe(1);
    expect(await stack.app.oneFirst(sql.type(z.object({ u: z.string().nullable() }))`SELECT user_id::text AS u FROM portal_sign_in_lookup(${b.slug}, '%')`)).toBeNull();
  });
});
