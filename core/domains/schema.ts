import { z } from 'zod';

/**
 * Domains a tenant claims and proves with a DNS TXT record, as every surface shows them (portal
 * API, portal pages, change requests). Pure zod: the portal imports this module.
 */

/** The label the TXT record lives under, and the value's prefix. */
export const CHALLENGE_LABEL = '_roster-challenge';
export const CHALLENGE_PREFIX = 'roster-verification=';
/** How long a claim waits for its record before it expires. */
export const CHALLENGE_TTL_DAYS = 7;
/** Re-checks in a row that may miss the record before a verified domain counts as failed. */
export const RECHECK_GRACE_MISSES = 3;

export const DOMAIN_STATES = ['pending', 'verified', 'failed', 'expired', 'removed'] as const;
export const DomainState = z.enum(DOMAIN_STATES);
export type DomainState = z.infer<typeof DomainState>;

/**
 * A DNS name a tenant can own: lower-cased, no trailing dot, at least two labels, letters, digits
 * and hyphens (an internationalised name in its xn-- form), 253 characters at most.
 */
export const DomainName = z
  .string()
  .trim()
  .toLowerCase()
  .transform((v) => v.replace(/\.$/, ''))
  .pipe(
    z
      .string()
      .max(253, 'a domain name has at most 253 characters')
      .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'not a domain name (example.com; internationalised names in their xn-- form)'),
  );

/** What the admin publishes to prove the claim. */
export const DomainChallenge = z.object({
  type: z.literal('TXT'),
  /** The record's full name (`_roster-challenge.example.com`). */
  name: z.string(),
  value: z.string(),
});
export type DomainChallenge = z.infer<typeof DomainChallenge>;

export const DomainView = z.object({
  id: z.string().uuid(),
  name: z.string(),
  state: DomainState,
  challenge: DomainChallenge,
  createdAt: z.string(),
  verifiedAt: z.string().nullable(),
  lastCheckedAt: z.string().nullable(),
  lastSeenAt: z.string().nullable(),
  /** Re-checks in a row that did not find the record. */
  missedChecks: z.number().int(),
  /** A pending claim expires then. */
  expiresAt: z.string(),
});
export type DomainView = z.infer<typeof DomainView>;

export const ClaimDomainBody = z.object({ name: DomainName }).strict();
export type ClaimDomainBody = z.infer<typeof ClaimDomainBody>;

export const RemoveDomainBody = z.object({ domainId: z.string().uuid() }).strict();
export type RemoveDomainBody = z.infer<typeof RemoveDomainBody>;

export function challengeFor(name: string, token: string): DomainChallenge {
  return { type: 'TXT', name: `${CHALLENGE_LABEL}.${name}`, value: `${CHALLENGE_PREFIX}${token}` };
}

/** Portal request body: the claim plus an optional reason for the approvers. */
export const RequestClaimBody = z.object({ name: DomainName, reason: z.string().trim().max(2000).optional().describe('Why, for the approvers') }).strict();
export type RequestClaimBody = z.infer<typeof RequestClaimBody>;
