import type { ComponentType } from 'react';

/**
 * The operator console's pages, in nav order (same idea as portal/src/app/features.ts, no roles:
 * every signed-in operator sees every console page). Adding a page = one entry here.
 * `path` is relative to /console; the route is `/console/${path}/*`.
 */
export interface ConsoleFeatureEntry {
  path: string;
  label: string;
  lazy: () => Promise<{ default: ComponentType }>;
  nav?: boolean;
}

export const consoleFeatures: ConsoleFeatureEntry[] = [
  // Tenants (helper "console")
  { path: 'tenants', label: 'Tenants', lazy: () => import('./placeholder-page.js').then((m) => ({ default: m.TenantsPlaceholder })) },
  // Fleet health (helper "console")
  { path: 'fleet', label: 'Fleet health', lazy: () => import('./placeholder-page.js').then((m) => ({ default: m.FleetPlaceholder })) },
];
