import { z } from 'zod';

// Role mappings (IdP group → app roles), the default role and their dry runs: shapes shared by
// the app API, the portal API, the CLI and the portal pages (pure zod: the portal bundles it).

export const RoleName = z.string().min(1).max(100);

export const RoleMapping = z.object({
  groupId: z.string().uuid(),
  displayName: z.string(),
  roles: z.array(z.string()),
  memberCount: z.number().int(),
});
export type RoleMapping = z.infer<typeof RoleMapping>;

export const CatalogueRole = z.object({ name: z.string(), description: z.string().optional(), privileged: z.boolean().optional() });

export const RoleMappingOverview = z.object({
  defaultRole: z.string().nullable(),
  mappings: z.array(RoleMapping),
  /** The vendor's app roles: what a mapping may grant. */
  roles: z.array(CatalogueRole),
});
export type RoleMappingOverview = z.infer<typeof RoleMappingOverview>;

export const GroupChoice = z.object({ groupId: z.string().uuid(), displayName: z.string(), memberCount: z.number().int(), roles: z.array(z.string()) });
export const GroupChoicePage = z.object({ data: z.array(GroupChoice), next: z.string().nullable() });
export type GroupChoicePage = z.infer<typeof GroupChoicePage>;
export const GroupSearchQuery = z.object({
  search: z.string().trim().max(200).optional(),
  cursor: z.string().max(400).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/** One person's effect of a change: roles gained and lost. */
export const RoleChange = z.object({
  userId: z.string().uuid(),
  userName: z.string().nullable(),
  displayName: z.string().nullable(),
  gains: z.array(z.string()),
  losses: z.array(z.string()),
});
export type RoleChange = z.infer<typeof RoleChange>;

export const RoleChangePreview = z.object({
  affectedUsers: z.number().int(),
  /** Sorted by userName; the portal lists the first few hundred (affectedUsers is the full count). */
  changes: z.array(RoleChange),
  /**
   * Names exactly these gains and losses. Saving with it applies the change only if its effect is
   * still the one previewed; otherwise 409 `preview_stale` and nothing changes.
   */
  fingerprint: z.string(),
});
export type RoleChangePreview = z.infer<typeof RoleChangePreview>;

export const RoleChangeResult = RoleChangePreview.extend({ applied: z.boolean() });
export type RoleChangeResult = z.infer<typeof RoleChangeResult>;

export const RoleMappingChange = z.object({ roles: z.array(RoleName).max(100) });
export const RoleMappingPreviewBody = RoleMappingChange.extend({ groupId: z.string().uuid() });
export const RoleMappingSaveBody = RoleMappingChange.extend({ fingerprint: z.string().min(1).max(128) });
export const DefaultRoleChange = z.object({ role: RoleName.nullable() });
export const DefaultRoleSaveBody = DefaultRoleChange.extend({ fingerprint: z.string().min(1).max(128) });
