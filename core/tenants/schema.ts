import { z } from 'zod';

/** A tenant's own settings as every surface shows and changes them. Pure zod: the portal imports it. */

export const MAX_DELETION_GRACE_SECONDS = 365 * 86_400;
export const MAX_GUARD_WINDOW_SECONDS = 30 * 86_400;

export const DeletionGraceSeconds = z
  .number()
  .int()
  .min(0, 'the grace period cannot be negative')
  .max(MAX_DELETION_GRACE_SECONDS, 'the grace period is at most 365 days')
  .describe('How long a SCIM-deleted identity stays restorable before its personal data is removed');

export const GuardSettings = z.object({
  maxSuspensions: z.number().int('a whole number of leavers').min(0, 'cannot be negative').max(1_000_000).describe('Leavers allowed per window before further ones are held'),
  maxShare: z.number().min(0, 'a share from 0 to 1 (0–100 %)').max(1, 'a share from 0 to 1 (0–100 %)').describe("Share of the tenant's identities allowed to leave per window (0-1)"),
  windowSeconds: z.number().int().min(1, 'the window is at least one second').max(MAX_GUARD_WINDOW_SECONDS, 'the window is at most 30 days').describe('The window both limits count over'),
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
