import { hasAnyRole, useSession } from '../../app/session.js';

/**
 * What the signed-in user may do on these pages (the API checks every request itself):
 * - `manage`: admin and reviewer define, launch, reassign, close and confirm;
 * - `oversee`: they and auditors see every campaign, item and the evidence;
 * everyone decides the items assigned to them.
 */
export function useAccessRoles(): { manage: boolean; oversee: boolean; userId: string } {
  const { user } = useSession();
  return { manage: hasAnyRole(user, ['admin', 'reviewer']), oversee: hasAnyRole(user, ['admin', 'reviewer', 'auditor']), userId: user.id };
}
