import { z } from 'zod';

/** Credential request bodies shared by the app API and the CLI. Pure zod. */

/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` or `\`. */
export const Scope = z.string().min(1).max(100).regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope is printable ASCII without spaces, quotes or backslashes');
export const Scopes = z.array(Scope).max(50);
export const CredentialRole = z.string().min(1).max(100);
export const CredentialName = z.string().trim().min(1).max(200);
export const YEAR_SECONDS = 366 * 24 * 3600;

export const CreatePersonalTokenBody = z
  .object({
    name: CredentialName,
    scopes: Scopes,
    requiredRoles: z.array(CredentialRole).max(50).optional().describe('roles the token depends on: losing one revokes it, not holding one makes it inactive'),
    expiresInSeconds: z.number().int().min(60).max(YEAR_SECONDS).optional().describe('default: no expiry'),
  })
  .strict();
export type CreatePersonalTokenBody = z.infer<typeof CreatePersonalTokenBody>;

/** The leaver's exposure report: what the user still owned, and what is still live (must be 0). */
export const ExposureItem = z.object({
  kind: z.enum(['session', 'personal_token', 'oauth_grant', 'service_account', 'service_account_token']),
  id: z.string().uuid(),
  live: z.boolean(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  revokedReason: z.string().nullable().optional(),
  expiresAt: z.string().nullable().optional(),
  serviceAccountId: z.string().uuid().nullable().optional(),
  status: z.string().optional(),
  orphaned: z.boolean().optional(),
});
const Tally = z.object({ total: z.number().int(), live: z.number().int() });
export const ExposureReport = z.object({
  userId: z.string().uuid(),
  generatedAt: z.string(),
  sessions: Tally,
  personalTokens: Tally,
  oauthGrants: Tally,
  serviceAccounts: Tally,
  serviceAccountTokens: Tally,
  /** Anything that would still let someone act through this user: must be 0 after a leaver. */
  liveCredentials: z.number().int(),
  items: z.array(ExposureItem),
});
export type ExposureReport = z.infer<typeof ExposureReport>;
export type ExposureItem = z.infer<typeof ExposureItem>;
