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
