import { z } from 'zod';
import { DomainError } from '../errors.js';
import { guardedGet } from '../net/guarded-get.js';
import { type WebhookTargetPolicy, WebhookTargetRefused } from '../net/webhook-target.js';
import type { OidcConfig } from './schema.js';

/**
 * OpenID Connect Discovery 1.0: the provider's configuration at `<issuer>/.well-known/openid-configuration`
 * (§4). Its `issuer` must be exactly the issuer asked for (§4.3: otherwise the document may belong
 * to someone else), and its endpoints must be https outside development. The fetch goes through the
 * SSRF guard webhooks use.
 */

const DiscoveryDocument = z.object({
  issuer: z.string(),
  authorization_endpoint: z.string(),
  token_endpoint: z.string(),
  jwks_uri: z.string(),
  userinfo_endpoint: z.string().optional(),
});

export interface OidcDiscoveryOptions {
  targets: WebhookTargetPolicy;
  /** http issuers and endpoints (development and tests only). */
  allowHttp: boolean;
  timeoutMs?: number;
}

const invalid = (field: string, why: string) => new DomainError(400, 'invalid_request', `${field}: ${why}`);

function checkUrl(field: string, text: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(field, 'not an absolute URL');
  }
  if (url.username || url.password) throw invalid(field, 'must not carry credentials');
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) throw invalid(field, 'must be https');
  return url;
}

export async function discoverOidc(issuer: string, clientId: string, options: OidcDiscoveryOptions): Promise<OidcConfig> {
  const issuerUrl = checkUrl('issuer', issuer, options.allowHttp);
  if (issuerUrl.search || issuerUrl.hash) throw invalid('issuer', 'must not have a query or fragment');
  const discoveryUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let response: Awaited<ReturnType<typeof guardedGet>>;
  try {
    response = await guardedGet(discoveryUrl, { policy: options.targets, timeoutMs: options.timeoutMs ?? 5_000, maxBytes: 256 * 1024 });
  } catch (err) {
    if (err instanceof WebhookTargetRefused) throw invalid('issuer', err.message);
    throw new DomainError(422, 'discovery_failed', `issuer: the discovery document could not be fetched from ${discoveryUrl} (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
  if (response.status !== 200) throw new DomainError(422, 'discovery_failed', `issuer: ${discoveryUrl} answered ${response.status}`);
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw new DomainError(422, 'discovery_failed', `issuer: ${discoveryUrl} is not JSON`);
  }
  const parsed = DiscoveryDocument.safeParse(json);
  if (!parsed.success) throw new DomainError(422, 'discovery_failed', `issuer: the discovery document lacks ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  const doc = parsed.data;
  if (doc.issuer !== issuer) throw new DomainError(422, 'issuer_mismatch', `issuer: the discovery document names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}`);
  for (const [field, value] of [
    ['authorization_endpoint', doc.authorization_endpoint],
    ['token_endpoint', doc.token_endpoint],
    ['jwks_uri', doc.jwks_uri],
    ...(doc.userinfo_endpoint ? [['userinfo_endpoint', doc.userinfo_endpoint] as const] : []),
  ] as const) {
    try {
      checkUrl(field, value, options.allowHttp);
    } catch (err) {
      throw new DomainError(422, 'discovery_failed', `issuer: the discovery document's ${(err as Error).message}`);
    }
  }
  return {
    issuer: doc.issuer,
    clientId,
    authorizationEndpoint: doc.authorization_endpoint,
    tokenEndpoint: doc.token_endpoint,
    jwksUri: doc.jwks_uri,
    userinfoEndpoint: doc.userinfo_endpoint ?? null,
  };
}
