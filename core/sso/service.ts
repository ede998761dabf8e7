import type { Tx } from '../db/pool.js';
import { verifiedDomainNames, raiseAlert } from '../domains/queries.js';
import { DomainError } from '../errors.js';
import type { WebhookTargetPolicy } from '../net/webhook-target.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { discoverOidc } from './oidc.js';
import * as q from './queries.js';
import { earliestExpiry, parseSamlMetadata } from './saml.js';
import { CERT_ALERT_DAYS, type CreateSsoConnectionBody, type SsoConnectionView, type UpdateSsoConnectionBody } from './schema.js';

/**
 * SSO connections: the one place their rules and audit rows live. Validation reaches outside
 * (OIDC discovery, through the SSRF guard), so `prepare*` runs before the write and the change
 * request's describe step shows its result; the write itself is `create/update/delete`.
 */

export interface SsoPolicy {
  /** Where discovery documents may be fetched from (the webhooks' SSRF guard). */
  targets: WebhookTargetPolicy;
  /** http issuers, endpoints and SSO URLs (outside production only). */
  allowHttp: boolean;
}

export const SSO_CERT_EXPIRING_ALERT = 'sso_certificate_expiring';

export async function listSsoConnections(tx: Tx, tenantId: string): Promise<SsoConnectionView[]> {
  return (await q.listSso(tx, tenantId)).map(q.toSsoView);
}

export async function getSsoConnection(tx: Tx, tenantId: string, id: string): Promise<SsoConnectionView> {
  const row = await q.findSso(tx, tenantId, id);
  if (!row) throw new DomainError(404, 'not_found', 'no such SSO connection');
  return q.toSsoView(row);
}

async function checkAllowedDomains(tx: Tx, tenantId: string, names: readonly string[]): Promise<string[]> {
  const unique = [...new Set(names)].sort();
  const verified = new Set(await verifiedDomainNames(tx, tenantId, unique));
  const missing = unique.filter((n) => !verified.has(n));
  if (missing.length) throw new DomainError(400, 'invalid_request', `allowedDomains: ${missing.join(', ')} ${missing.length === 1 ? 'is not a verified domain' : 'are not verified domains'} of this tenant`);
  return unique;
}

async function checkName(tx: Tx, tenantId: string, name: string, exceptId: string | null): Promise<void> {
  if (await q.nameTaken(tx, tenantId, name, exceptId)) throw new DomainError(409, 'conflict', `an SSO connection named "${name}" already exists`);
}

/** Validates a new connection: discovery or metadata, verified domains, a free name. Writes nothing. */
export async function prepareCreate(tx: Tx, tenantId: string, policy: SsoPolicy, body: CreateSsoConnectionBody): Promise<q.SsoValues> {
  await checkName(tx, tenantId, body.name, null);
  const allowedDomains = await checkAllowedDomains(tx, tenantId, body.allowedDomains);
  if (body.protocol === 'oidc') {
    const config = await discoverOidc(body.issuer, body.clientId, policy);
    return { protocol: 'oidc', name: body.name, config, allowedDomains, certNotAfter: null };
  }
  const config = parseSamlMetadata(body.metadataXml, { allowHttp: policy.allowHttp });
  return { protocol: 'saml', name: body.name, config, allowedDomains, certNotAfter: earliestExpiry(config.certificates) };
}

/** The connection as it would be after the change (validated like a new one). Writes nothing. */
export async function prepareUpdate(tx: Tx, tenantId: string, policy: SsoPolicy, connectionId: string, body: UpdateSsoConnectionBody): Promise<{ before: q.SsoRow; after: q.SsoValues }> {
  const before = await q.findSso(tx, tenantId, connectionId);
  if (!before) throw new DomainError(404, 'not_found', 'no such SSO connection');
  const name = body.name ?? before.name;
  if (body.name !== undefined) await checkName(tx, tenantId, name, connectionId);
  const allowedDomains = await checkAllowedDomains(tx, tenantId, body.allowedDomains ?? before.allowed_domains);
  if (before.protocol === 'oidc') {
    if (body.metadataXml !== undefined) throw new DomainError(400, 'invalid_request', 'metadataXml: this is an OIDC connection');
    const current = q.toSsoView(before).oidc!;
    const issuer = body.issuer ?? current.issuer;
    const clientId = body.clientId ?? current.clientId;
    // Discovery runs again only when the issuer changes; the endpoints are the provider's.
    const config = body.issuer !== undefined ? await discoverOidc(issuer, clientId, policy) : { ...current, clientId };
    return { before, after: { protocol: 'oidc', name, config, allowedDomains, certNotAfter: null } };
  }
  if (body.issuer !== undefined || body.clientId !== undefined) throw new DomainError(400, 'invalid_request', 'issuer, clientId: this is a SAML connection');
  const config = body.metadataXml !== undefined ? parseSamlMetadata(body.metadataXml, { allowHttp: policy.allowHttp }) : q.toSsoView(before).saml!;
  return { before, after: { protocol: 'saml', name, config, allowedDomains, certNotAfter: earliestExpiry(config.certificates) } };
}

export async function createSsoConnection(tx: Tx, ctx: ServiceContext, policy: SsoPolicy, body: CreateSsoConnectionBody, prepared?: q.SsoValues): Promise<SsoConnectionView> {
  const values = prepared ?? (await prepareCreate(tx, ctx.tenantId, policy, body));
  const row = await q.insertSso(tx, ctx.tenantId, values);
  const view = q.toSsoView(row);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'sso_connection.created', 'sso_connection', row.id, { after: auditShape(view) })]);
  return view;
}

export async function updateSsoConnection(tx: Tx, ctx: ServiceContext, policy: SsoPolicy, connectionId: string, body: UpdateSsoConnectionBody): Promise<SsoConnectionView> {
  const { before, after } = await prepareUpdate(tx, ctx.tenantId, policy, connectionId, body);
  const row = await q.updateSso(tx, ctx.tenantId, connectionId, after);
  const view = q.toSsoView(row);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'sso_connection.updated', 'sso_connection', row.id, { before: auditShape(q.toSsoView(before)), after: auditShape(view) })]);
  return view;
}

export async function deleteSsoConnection(tx: Tx, ctx: ServiceContext, connectionId: string): Promise<SsoConnectionView> {
  const row = await q.markSsoDeleted(tx, ctx.tenantId, connectionId);
  if (!row) throw new DomainError(404, 'not_found', 'no such SSO connection');
  const view = q.toSsoView(row);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'sso_connection.deleted', 'sso_connection', row.id, { before: auditShape(view) })]);
  return view;
}

/**
 * A connection as diffs and audit rows show it: certificates by fingerprint and expiry (the PEM
 * adds nothing a reader can compare).
 */
export function auditShape(view: Pick<SsoConnectionView, 'protocol' | 'name' | 'allowedDomains' | 'oidc' | 'saml'>): Record<string, unknown> {
  return {
    protocol: view.protocol,
    name: view.name,
    allowedDomains: view.allowedDomains,
    ...(view.oidc ? { oidc: view.oidc } : {}),
    ...(view.saml
      ? { saml: { entityId: view.saml.entityId, ssoUrl: view.saml.ssoUrl, ssoBinding: view.saml.ssoBinding, certificates: view.saml.certificates.map((c) => ({ subject: c.subject, fingerprintSha256: c.fingerprintSha256, notAfter: c.notAfter })) } }
      : {}),
  };
}

/**
 * The scheduled sweep's certificate check for one connection: a tenant alert (and an audit row)
 * when the earliest signing certificate expires within 30 days, and again within 7; each once per
 * certificate (replacing the metadata resets it).
 */
export async function checkCertificateExpiry(tx: Tx, ctx: ServiceContext, connectionId: string, now = new Date()): Promise<{ alertedDays: number | null }> {
  const row = await q.findSso(tx, ctx.tenantId, connectionId, { lock: true });
  if (!row?.cert_not_after) return { alertedDays: null };
  const daysLeft = (Date.parse(row.cert_not_after) - now.getTime()) / 86_400_000;
  const threshold = [...CERT_ALERT_DAYS].sort((a, b) => a - b).find((d) => daysLeft <= d);
  if (threshold === undefined || (row.cert_alerted_days !== null && row.cert_alerted_days <= threshold)) return { alertedDays: null };
  const data = { subjectId: `${row.id}:${threshold}`, connectionId: row.id, name: row.name, notAfter: row.cert_not_after, days: threshold };
  await raiseAlert(tx, ctx.tenantId, SSO_CERT_EXPIRING_ALERT, data);
  await q.setCertAlerted(tx, ctx.tenantId, row.id, threshold);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'sso_connection.certificate_expiring', 'sso_connection', row.id, { notAfter: row.cert_not_after, withinDays: threshold })]);
  return { alertedDays: threshold };
}
