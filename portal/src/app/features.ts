import type { ComponentType } from 'react';
import { PendingBadge } from '../components/pending-badge.js';
import { ReviewsBadge } from '../components/reviews-badge.js';
import { placeholder } from './placeholder-page.js';
import type { PortalRole } from './session.js';

/**
 * Every page of the signed-in portal, in nav order. Adding a feature = one entry here (replace its
 * placeholder line); nothing else in app/ changes.
 *
 * - `path`: first URL segment, without slashes ('directory'). The route is `/${path}/*`, so a
 *   feature routes its own sub-pages with <Routes>/<Route> inside its page component (relative
 *   paths, e.g. <Route path="users/:id" .../>). Links between pages are clearest absolute
 *   (<Link to={`/directory/users/${id}`}>): inside a splat route a relative link resolves from the
 *   full current URL.
 * - `roles`: who may open it; the nav shows only entries the user's roles allow and the route
 *   shows "not available for your role" otherwise (the API enforces the same rule on every call).
 * - `lazy`: `() => import('../features/<feature>/page.js')` (module with a default component), so
 *   each feature is its own chunk and the first load stays small.
 * - `nav: false` keeps a page out of the nav (still routable).
 */
export interface FeatureEntry {
  path: string;
  label: string;
  roles: readonly PortalRole[];
  lazy: () => Promise<{ default: ComponentType }>;
  nav?: boolean;
  /** A small live count beside the nav link (e.g. approvals waiting for me); renders nothing at zero. */
  badge?: ComponentType;
}

const all: readonly PortalRole[] = ['admin', 'approver', 'reviewer', 'auditor'];

export const features: FeatureEntry[] = [
  // Overview (helper "directory")
  { path: 'overview', label: 'Overview', roles: ['admin', 'auditor', 'reviewer'], lazy: () => import('../features/overview/page.js') },
  // Connections (helper "settings")
  { path: 'connections', label: 'Connections', roles: ['admin', 'auditor'], lazy: () => import('../features/connections/page.js') },
  // Directory (helper "directory")
  { path: 'directory', label: 'Directory', roles: ['admin', 'auditor', 'reviewer'], lazy: () => import('../features/directory/page.js') },
  // Role mappings (helper "audit")
  { path: 'role-mappings', label: 'Role mappings', roles: ['admin', 'auditor', 'approver'], lazy: () => import('../features/role-mappings/page.js') },
  // Non-human identities (helper "directory")
  { path: 'non-human', label: 'Non-human identities', roles: ['admin', 'auditor', 'reviewer'], lazy: () => import('../features/nhi/page.js') },
  // Audit log (helper "audit")
  { path: 'audit', label: 'Audit log', roles: ['admin', 'auditor'], lazy: () => import('../features/audit/page.js') },
  // Settings (helper "settings")
  { path: 'settings', label: 'Settings', roles: ['admin', 'auditor'], lazy: () => import('../features/settings/page.js') },
  // Members (helper "frame")
  { path: 'members', label: 'Members', roles: ['admin'], lazy: () => import('../features/members/page.js') },
  // Account (helper "frame"): reached from the user menu
  { path: 'account', label: 'Your account', roles: all, nav: false, lazy: () => import('../features/account/page.js') },
  // Domains and SSO connections (helper "domains-sso")
  { path: 'domains', label: 'Domains', roles: ['admin', 'approver', 'auditor'], lazy: () => import('../features/domains/page.js') },
  { path: 'sso', label: 'SSO connections', roles: ['admin', 'approver', 'auditor'], lazy: () => import('../features/sso/page.js') },
  // Approvals inbox and requests (helper "approvals-ui")
  { path: 'approvals', label: 'Approvals', roles: all, badge: PendingBadge, lazy: () => import('../features/approvals/page.js') },
  // Access reviews: recertification campaigns (issue 9); everyone reviews what is assigned to them
  { path: 'access-reviews', label: 'Access reviews', roles: all, badge: ReviewsBadge, lazy: () => import('../features/campaigns/page.js') },
  // Settings › Approval policy (helper "approvals-ui"): more specific than settings/*, so it wins
  { path: 'settings/approval-policy', label: 'Approval policy', roles: ['admin', 'auditor', 'approver'], nav: false, lazy: () => import('../features/approvals/policy-page.js') },
];

/** The entries `roles` may open, in nav order. */
export function allowedFeatures(roles: readonly PortalRole[]): FeatureEntry[] {
  return features.filter((f) => f.roles.some((role) => roles.includes(role)));
}

/** For a page still being built: `lazy: placeholder(title, description)` (also keeps this import used once every page is real). */
export { placeholder };
