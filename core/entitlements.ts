import type { AppRole } from './config.js';

/** Where an effective role comes from: the tenant default, a mapped IdP group, or a direct grant. */
export interface RoleSources {
  defaultRole: string | null;
  /** Roles granted by the groups the user is a member of (already joined through role_mappings). */
  mappedRoles: readonly string[];
  directRoles: readonly string[];
  /**
   * Roles an access review took away (role_exclusions): left out whatever grants them, until an
   * admin grants the role directly again (which deletes the exclusion).
   */
  excludedRoles?: readonly string[];
}

/**
 * Effective roles = (default ∪ mapped ∪ direct) − excluded, restricted to the vendor's catalogue (a
 * mapping to a role the vendor has since removed grants nothing).
 */
export function effectiveRoles(sources: RoleSources, catalogue: readonly AppRole[]): string[] {
  const known = new Set(catalogue.map((r) => r.name));
  const all = new Set<string>();
  if (sources.defaultRole) all.add(sources.defaultRole);
  for (const r of sources.mappedRoles) all.add(r);
  for (const r of sources.directRoles) all.add(r);
  for (const r of sources.excludedRoles ?? []) all.delete(r);
  return [...all].filter((r) => known.has(r)).sort();
}

export interface RoleDiff {
  grant: string[];
  revoke: string[];
}

export function diffRoles(current: readonly string[], target: readonly string[]): RoleDiff {
  const have = new Set(current);
  const want = new Set(target);
  return {
    grant: [...want].filter((r) => !have.has(r)).sort(),
    revoke: [...have].filter((r) => !want.has(r)).sort(),
  };
}

export function privilegedRoles(roles: readonly string[], catalogue: readonly AppRole[]): string[] {
  const privileged = new Set(catalogue.filter((r) => r.privileged).map((r) => r.name));
  return roles.filter((r) => privileged.has(r));
}
