import { sql } from 'slonik';
import { z } from 'zod';
import { DomainError } from '../errors.js';
import type { Db } from '../db/pool.js';

export const TenantRow = z.object({
  id: z.string().uuid(),
  slug: z.string(),
  name: z.string(),
  deletion_grace_seconds: z.number().int(),
  created_at: z.string(),
});
export type TenantRow = z.infer<typeof TenantRow>;

export const TenantSlug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a slug is 1-63 lower-case letters, digits and dashes');

/** Operator-only (owner connection): tenants are created outside any tenant's scope. */
export async function createTenant(owner: Db, input: { slug: string; name?: string }): Promise<TenantRow> {
  const slug = TenantSlug.parse(input.slug);
  const existing = await owner.maybeOne(sql.type(TenantRow)`SELECT * FROM tenants WHERE slug = ${slug}`);
  if (existing) throw new DomainError(409, 'tenant_exists', `tenant "${slug}" already exists`);
  return owner.one(sql.type(TenantRow)`
    INSERT INTO tenants (slug, name) VALUES (${slug}, ${input.name ?? slug}) RETURNING *`);
}

export async function findTenantBySlug(owner: Db, slug: string): Promise<TenantRow | null> {
  return owner.maybeOne(sql.type(TenantRow)`SELECT * FROM tenants WHERE slug = ${slug}`);
}

export async function countTenants(owner: Db): Promise<number> {
  return owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM tenants`);
}

export async function setDeletionGrace(owner: Db, tenantId: string, seconds: number): Promise<void> {
  await owner.query(sql.unsafe`UPDATE tenants SET deletion_grace_seconds = ${seconds} WHERE id = ${tenantId}`);
}
