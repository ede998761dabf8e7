import { z } from 'zod';
import { PRUNE_KINDS } from './kinds.js';

export { PRUNE_KINDS };
export const PruneKind = z.enum(PRUNE_KINDS);
export type PruneKind = z.infer<typeof PruneKind>;

/** A tenant's audit log size (it is never pruned): sealed rows and their bytes on disk (row data). */
export const AuditSize = z.object({
  rows: z.number().int(),
  bytes: z.number().int(),
  /** When it was last counted; null before the first maintenance run. */
  measuredAt: z.string().nullable(),
});
export type AuditSize = z.infer<typeof AuditSize>;
