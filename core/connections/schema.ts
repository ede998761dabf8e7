import { z } from 'zod';
import { ConnectionActivity, ScimRequestError } from './activity-schema.js';

/**
 * SCIM connections and their bearer tokens as every surface shows them (CLI, portal API, portal).
 * Pure zod: the portal imports this module.
 */

/** The longest overlap a rotation may give the tokens it replaces (the IdP's switch-over window). */
export const MAX_TOKEN_OVERLAP_SECONDS = 30 * 86_400;

export const ConnectionName = z.string().trim().min(1, 'a connection needs a name').max(100);

export const ScimTokenStatus = z.enum(['active', 'expiring', 'expired', 'revoked']);
export type ScimTokenStatus = z.infer<typeof ScimTokenStatus>;

export const ScimTokenView = z.object({
  id: z.string().uuid(),
  /** The shown-again part of the token: prefix plus four characters. */
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  /** Set by a rotation: the token stops working then (the overlap). */
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  status: ScimTokenStatus,
});
export type ScimTokenView = z.infer<typeof ScimTokenView>;

export const ScimConnectionView = z.object({
  id: z.string().uuid(),
  name: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  tokens: z.array(ScimTokenView),
});
export type ScimConnectionView = z.infer<typeof ScimConnectionView>;

export const CreateConnectionBody = z.object({ name: ConnectionName }).strict();
export type CreateConnectionBody = z.infer<typeof CreateConnectionBody>;

export const RotateTokenBody = z
  .object({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_TOKEN_OVERLAP_SECONDS)
      .optional()
      .describe("How long the connection's current tokens keep working beside the new one; the server default when omitted"),
  })
  .strict();
export type RotateTokenBody = z.infer<typeof RotateTokenBody>;

/** A freshly issued token: `token` is shown once and stored only as its SHA-256. */
export const IssuedToken = z.object({
  connectionId: z.string().uuid(),
  tokenId: z.string().uuid(),
  token: z.string(),
});
export type IssuedToken = z.infer<typeof IssuedToken>;

export const CreatedConnection = IssuedToken.extend({ connection: ScimConnectionView });
export type CreatedConnection = z.infer<typeof CreatedConnection>;

export const RotatedToken = IssuedToken.extend({
  /** When the connection's older tokens stop working. */
  previousValidUntil: z.string(),
});
export type RotatedToken = z.infer<typeof RotatedToken>;

/** A token's status at `now` (epoch ms). */
export function tokenStatus(token: { expiresAt: string | null; revokedAt: string | null }, now = Date.now()): ScimTokenStatus {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt) return Date.parse(token.expiresAt) > now ? 'expiring' : 'expired';
  return 'active';
}

/** A connection with its traffic: last request, the last hour, and its most recent error answers. */
export const ScimConnectionWithActivity = ScimConnectionView.extend({
  activity: ConnectionActivity.omit({ connectionId: true }),
  recentErrors: z.array(ScimRequestError).describe('Newest first'),
});
export type ScimConnectionWithActivity = z.infer<typeof ScimConnectionWithActivity>;

/** The portal's connections page: the base URL to give the IdP, and the connections. */
export const ConnectionsPage = z.object({
  scimBaseUrl: z.string().describe('`${PUBLIC_URL}/scim/v2`: the base URL every IdP is given'),
  connections: z.array(ScimConnectionWithActivity),
});
export type ConnectionsPage = z.infer<typeof ConnectionsPage>;
