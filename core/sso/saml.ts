import { X509Certificate } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { DomainError } from '../errors.js';
import type { SamlConfig, SsoCertificate } from './schema.js';

/**
 * Reads SAML 2.0 IdP metadata (SAML Metadata 2.0 §2.4.3 IDPSSODescriptor): the entity id, the
 * SingleSignOnService location for the HTTP-Redirect or HTTP-POST binding, and the signing
 * certificates (KeyDescriptor use="signing", or without `use`: both uses, §2.4.1.1). Refused:
 * malformed XML, any DTD or entity declaration (XXE, entity expansion), no IdP role, no SSO
 * service on a supported binding, no signing certificate, only expired signing certificates.
 */

const BINDINGS = {
  'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect': 'HTTP-Redirect',
  'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST': 'HTTP-POST',
} as const;

const ALWAYS_ARRAYS = new Set(['EntityDescriptor', 'IDPSSODescriptor', 'KeyDescriptor', 'SingleSignOnService', 'X509Certificate', 'X509Data']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  // Never expand entities (not even the five predefined ones: certificates and URLs need none).
  processEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ALWAYS_ARRAYS.has(name),
});

type Node = Record<string, unknown>;
const invalid = (why: string) => new DomainError(400, 'invalid_request', `metadataXml: ${why}`);

function nodes(value: unknown): Node[] {
  if (Array.isArray(value)) return value.filter((v): v is Node => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null ? [value as Node] : [];
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Node)['#text'] === 'string') return (value as Node)['#text'] as string;
  return '';
}

export function certificateInfo(base64Der: string): SsoCertificate {
  const der = Buffer.from(base64Der.replace(/\s+/g, ''), 'base64');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw invalid('a signing certificate is not a valid X.509 certificate');
  }
  const b64 = der.toString('base64');
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    fingerprintSha256: cert.fingerprint256,
    pem: `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`,
  };
}

export function parseSamlMetadata(xml: string, options: { allowHttp: boolean; now?: Date }): SamlConfig {
  // Before any parser sees it: a DOCTYPE is how XXE and entity expansion ("billion laughs") arrive.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw invalid('DTDs and entity declarations are not allowed');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw invalid(`not well-formed XML (line ${valid.err.line}: ${valid.err.msg})`);
  const doc = parser.parse(xml) as Node;
  const entities = nodes(doc['EntityDescriptor']).length ? nodes(doc['EntityDescriptor']) : nodes((doc['EntitiesDescriptor'] as Node | undefined)?.['EntityDescriptor']);
  const idps = entities.filter((e) => nodes(e['IDPSSODescriptor']).length > 0);
  if (idps.length === 0) throw invalid('no EntityDescriptor with an IDPSSODescriptor');
  if (idps.length > 1) throw invalid('more than one identity provider; give the metadata of one');
  const entity = idps[0]!;
  const entityId = text(entity['@_entityID']).trim();
  if (!entityId) throw invalid('the EntityDescriptor has no entityID');
  const idp = nodes(entity['IDPSSODescriptor'])[0]!;

  const services = nodes(idp['SingleSignOnService'])
    .map((s) => ({ binding: BINDINGS[text(s['@_Binding']) as keyof typeof BINDINGS], location: text(s['@_Location']).trim() }))
    .filter((s) => s.binding !== undefined && s.location);
  // HTTP-Redirect is what a service provider starts with; HTTP-POST otherwise.
  const service = services.find((s) => s.binding === 'HTTP-Redirect') ?? services[0];
  if (!service) throw invalid('no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');
  let url: URL;
  try {
    url = new URL(service.location);
  } catch {
    throw invalid('the SingleSignOnService Location is not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(options.allowHttp && url.protocol === 'http:')) throw invalid('the SingleSignOnService Location must be https');

  const signing = nodes(idp['KeyDescriptor']).filter((k) => {
    const use = text(k['@_use']);
    return use === '' || use === 'signing';
  });
  const certs = signing.flatMap((k) => nodes(k['KeyInfo']).flatMap((ki) => nodes(ki['X509Data']).flatMap((xd) => (Array.isArray(xd['X509Certificate']) ? xd['X509Certificate'] : []).map(text))));
  const certificates = certs.filter(Boolean).map(certificateInfo);
  if (certificates.length === 0) throw invalid('no signing certificate (KeyDescriptor use="signing" with an X509Certificate)');
  const now = options.now ?? new Date();
  if (certificates.every((c) => Date.parse(c.notAfter) <= now.getTime())) {
    throw invalid(`every signing certificate has expired (latest ${certificates.map((c) => c.notAfter).sort().at(-1)})`);
  }
  return { entityId, ssoUrl: url.toString(), ssoBinding: service.binding, certificates };
}

/** The earliest expiry among the signing certificates still valid (what the expiry alerts watch). */
export function earliestExpiry(certificates: readonly SsoCertificate[], now = new Date()): string | null {
  const live = certificates.map((c) => c.notAfter).filter((t) => Date.parse(t) > now.getTime());
  return live.sort()[0] ?? null;
}
