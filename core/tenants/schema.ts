import { z } from 'zod';

/** A tenant's own settings as every surface shows and changes them. Pure zod: the portal imports it. */

export const MAX_DELETION_GRACE_SECONDS = 365 * 86_400;
export const MAX_GUARD_WINDOW_SECONDS = 30 * 86_400;

export const DeletionGraceSeconds = z
  .number()
  .int()
  .min(0)
  .max(MAX_DELETION_GRACE_SECONDS)
  .describe('How long a SCIM-deleted identity stays restorable before its personal data is removed');

export const GuardSettings = z.object({
  maxSuspensions: z.number().int().min(0).max(1_000_000).describe('Leavers allowed per window before further ones are held'),
  maxShare: z.number().min(0).max(1).describe("Share of the tenant's identities allowed to leave per window (0-1)"),
  windowSeconds: z.number().int().min(1).max(MAX_GUARD_WINDOW_SECONDS).describe('The window both limits count over'),
});
export type GuardSettings = z.infer<typeof GuardSettings>;

export const TenantSettings = z.object({
  deletionGraceSeconds: DeletionGraceSeconds,
  guard: GuardSettings,
});
export type TenantSettings = z.infer<typeof TenantSettings>;

/** A change to some settings; what is left out stays as it is. */
export const UpdateTenantSettingsBody = z
  .object({
    deletionGraceSeconds: DeletionGraceSeconds.optional(),
    guard: GuardSettings.partial().strict().optional(),
  })
  .strict()
  .refine((b) => b.deletionGraceSeconds !== undefined || (b.guard && Object.keys(b.guard).length > 0), { message: 'nothing to change' });
export type UpdateTenantSettingsBody = z.infer<typeof UpdateTenantSettingsBody>;

/** A leaver the mass-deprovisioning guard holds until someone releases it. */
export const HeldLeaver = z.object({
  userId: z.string().uuid(),
  userName: z.string(),
  displayName: z.string().nullable(),
  heldAt: z.string(),
});
export type HeldLeaver = z.infer<typeof HeldLeaver>;

export const ReleaseHeldBody = z.object({ userId: z.string().uuid().optional().describe('Only this leaver; every held leaver when omitted') }).strict();
export type ReleaseHeldBody = z.infer<typeof ReleaseHeldBody>;

export const ReleaseResult = z.object({ released: z.array(z.string().uuid()) });
export type ReleaseResult = z.infer<typeof ReleaseResult>;
