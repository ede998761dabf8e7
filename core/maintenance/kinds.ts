/**
 * Kinds of rows the maintenance schedule prunes, in the order a run visits them (each with its own
 * retention: core/config.ts `retentionDays`). No imports: the maintenance workflow bundles it.
 */
export const PRUNE_KINDS = ['outbox', 'activity_steps', 'portal_sessions', 'operator_sessions', 'portal_setup_links', 'operator_setup_links', 'webhook_deliveries', 'scim_activity'] as const;
export type PruneKind = (typeof PRUNE_KINDS)[number];
