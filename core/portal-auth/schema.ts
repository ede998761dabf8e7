import { z } from 'zod';

/**
 * Sign-in for the tenant portal and the operator console: roles, request and response bodies.
 * Pure zod (the portal imports it for its forms and types).
 */

/** What a tenant portal user may do; a person holds one or more. `auditor` is read-only. */
export const PortalRole = z.enum(['admin', 'approver', 'reviewer', 'auditor']);
export type PortalRole = z.infer<typeof PortalRole>;
export const PORTAL_ROLES: readonly PortalRole[] = PortalRole.options;

export const Email = z.string().trim().min(3).max(320).email('enter an e-mail address');
export const Roles = z.array(PortalRole).min(1, 'choose at least one role').transform((r) => [...new Set(r)].sort());

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;
/** Length only: the common-password and e-mail checks run on the server (core/portal-auth/password.ts). */
export const Password = z
  .string()
  .min(PASSWORD_MIN, `use at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `use at most ${PASSWORD_MAX} characters`);

export const TotpCode = z.string().trim().regex(/^(\d{6}|[a-z0-9]{4}-?[a-z0-9]{4}-?[a-z0-9]{4})$/i, 'enter the 6-digit code or a recovery code');

export const SignInBody = z.object({
  tenant: z.string().trim().min(1, 'enter your organisation').max(63),
  email: Email,
  password: z.string().min(1, 'enter your password').max(PASSWORD_MAX),
  /** A TOTP code or, once each, a recovery code. */
  code: z.string().trim().max(32).optional(),
});
export type SignInBody = z.infer<typeof SignInBody>;

export const OperatorSignInBody = SignInBody.omit({ tenant: true });
export type OperatorSignInBody = z.infer<typeof OperatorSignInBody>;

export const SetupToken = z.string().min(20).max(200);
export const SetupInspectBody = z.object({ token: SetupToken });
export const SetupInspectResponse = z.object({
  email: z.string(),
  tenant: z.object({ slug: z.string(), name: z.string() }).optional(),
  expiresAt: z.string(),
});
export type SetupInspectResponse = z.infer<typeof SetupInspectResponse>;
export const SetupCompleteBody = z.object({
  token: SetupToken,
  password: Password,
  displayName: z.string().trim().min(1).max(200).optional(),
});
export type SetupCompleteBody = z.infer<typeof SetupCompleteBody>;

export const SetupLinkResponse = z.object({ url: z.string(), expiresAt: z.string() });
export type SetupLinkResponse = z.infer<typeof SetupLinkResponse>;

export const SessionUser = z.object({
  id: z.string().uuid(),
  email: z.string(),
  displayName: z.string().nullable(),
  roles: z.array(PortalRole),
  tenant: z.object({ slug: z.string(), name: z.string() }),
  totpEnabled: z.boolean(),
});
export type SessionUser = z.infer<typeof SessionUser>;
export const SessionResponse = z.object({ user: SessionUser, csrfToken: z.string() });
export type SessionResponse = z.infer<typeof SessionResponse>;

export const OperatorSessionResponse = z.object({
  operator: z.object({ id: z.string().uuid(), email: z.string(), displayName: z.string().nullable() }),
  csrfToken: z.string(),
});
export type OperatorSessionResponse = z.infer<typeof OperatorSessionResponse>;

export const MemberStatus = z.enum(['invited', 'active', 'disabled']);
export const Member = z.object({
  id: z.string().uuid(),
  email: z.string(),
  displayName: z.string().nullable(),
  roles: z.array(PortalRole),
  status: MemberStatus,
  totpEnabled: z.boolean(),
  createdAt: z.string(),
  lastSignInAt: z.string().nullable(),
});
export type Member = z.infer<typeof Member>;
export const MemberList = z.object({ members: z.array(Member) });
export const InviteBody = z.object({ email: Email, roles: Roles });
export type InviteBody = z.input<typeof InviteBody>;
export const UpdateMemberBody = z.object({ roles: Roles });
export type UpdateMemberBody = z.input<typeof UpdateMemberBody>;
export const IdParams = z.object({ id: z.string().uuid() });

export const AccountSession = z.object({
  id: z.string().uuid(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean(),
});
export type AccountSession = z.infer<typeof AccountSession>;
export const AccountSessionList = z.object({ sessions: z.array(AccountSession) });

export const TotpEnrollResponse = z.object({ secret: z.string(), otpauthUri: z.string() });
export const TotpConfirmBody = z.object({ code: z.string().trim().regex(/^\d{6}$/, 'enter the 6-digit code') });
export const TotpConfirmResponse = z.object({ recoveryCodes: z.array(z.string()) });
export const TotpDisableBody = z.object({ code: z.string().trim().min(6).max(32) });

export const ErrorBody = z.object({ error: z.string(), message: z.string().optional() });
