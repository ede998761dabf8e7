import { z } from 'zod';
import { DomainName } from '../domains/schema.js';

/**
 * SSO connections as tenant configuration (issue 8): Roster validates and stores them; the
 * vendor's app acts as the service provider. No secrets are stored or shown (no client secret).
 * Pure zod: the portal imports this module.
 */

/** Days before a signing certificate expires at which the fleet sweep raises a tenant alert. */
export const CERT_ALERT_DAYS = [30, 7] as const;
export const MAX_METADATA_BYTES = 256 * 1024;

export const SsoProtocol = z.enum(['oidc', 'saml']);
export type SsoProtocol = z.infer<typeof SsoProtocol>;

export const SsoConnectionName = z.string().trim().min(1, 'a connection needs a name').max(200);
const AllowedDomains = z.array(DomainName).max(100).default([]).describe('Verified domains of the tenant whose people sign in through this connection');
const Issuer = z.string().trim().min(1).max(2048).describe('The OpenID Provider issuer URL (its discovery document must name exactly this issuer)');
const ClientId = z.string().trim().min(1).max(512);
const MetadataXml = z.string().min(1).max(MAX_METADATA_BYTES, `SAML metadata is at most ${MAX_METADATA_BYTES} bytes`).describe('The IdP metadata XML (EntityDescriptor)');

export const CreateOidcConnection = z.object({ protocol: z.literal('oidc'), name: SsoConnectionName, issuer: Issuer, clientId: ClientId, allowedDomains: AllowedDomains }).strict();
export const CreateSamlConnection = z.object({ protocol: z.literal('saml'), name: SsoConnectionName, metadataXml: MetadataXml, allowedDomains: AllowedDomains }).strict();
export const CreateSsoConnectionBody = z.discriminatedUnion('protocol', [CreateOidcConnection, CreateSamlConnection]);
export type CreateSsoConnectionBody = z.infer<typeof CreateSsoConnectionBody>;

/** A change to a connection: the fields given replace the current ones (the protocol stays). */
export const UpdateSsoConnectionBody = z
  .object({
    name: SsoConnectionName.optional(),
    allowedDomains: z.array(DomainName).max(100).optional(),
    issuer: Issuer.optional(),
    clientId: ClientId.optional(),
    metadataXml: MetadataXml.optional(),
  })
  .strict();
export type UpdateSsoConnectionBody = z.infer<typeof UpdateSsoConnectionBody>;

export const SsoCertificate = z.object({
  subject: z.string(),
  issuer: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  fingerprintSha256: z.string(),
  /** The certificate, PEM (public: the vendor's app verifies assertions with it). */
  pem: z.string(),
});
export type SsoCertificate = z.infer<typeof SsoCertificate>;

export const OidcConfig = z.object({
  issuer: z.string(),
  clientId: z.string(),
  authorizationEndpoint: z.string(),
  tokenEndpoint: z.string(),
  jwksUri: z.string(),
  userinfoEndpoint: z.string().nullable(),
});
export type OidcConfig = z.infer<typeof OidcConfig>;

export const SamlBinding = z.enum(['HTTP-Redirect', 'HTTP-POST']);
export const SamlConfig = z.object({
  entityId: z.string(),
  ssoUrl: z.string(),
  ssoBinding: SamlBinding,
  certificates: z.array(SsoCertificate).min(1),
});
export type SamlConfig = z.infer<typeof SamlConfig>;

export const SsoConnectionView = z.object({
  id: z.string().uuid(),
  protocol: SsoProtocol,
  name: z.string(),
  allowedDomains: z.array(z.string()),
  oidc: OidcConfig.nullable(),
  saml: SamlConfig.nullable(),
  /** SAML: the earliest expiry among the signing certificates. */
  certificateExpiresAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SsoConnectionView = z.infer<typeof SsoConnectionView>;

export const SsoConnectionList = z.object({ connections: z.array(SsoConnectionView) });

/** Change-request payloads (core/sso/change-kinds.ts). */
export const UpdateSsoConnectionPayload = UpdateSsoConnectionBody.extend({ connectionId: z.string().uuid() }).strict();
export type UpdateSsoConnectionPayload = z.infer<typeof UpdateSsoConnectionPayload>;
export const DeleteSsoConnectionPayload = z.object({ connectionId: z.string().uuid() }).strict();
export type DeleteSsoConnectionPayload = z.infer<typeof DeleteSsoConnectionPayload>;

/** Portal request bodies: the change plus an optional reason for the approvers. */
const Reason = z.string().trim().max(2000).optional().describe('Why, for the approvers');
export const RequestSsoCreateBody = z.discriminatedUnion('protocol', [CreateOidcConnection.extend({ reason: Reason }), CreateSamlConnection.extend({ reason: Reason })]);
export type RequestSsoCreateBody = z.infer<typeof RequestSsoCreateBody>;
export const RequestSsoUpdateBody = UpdateSsoConnectionBody.extend({ reason: Reason });
export const RequestReasonBody = z.object({ reason: Reason }).strict();
