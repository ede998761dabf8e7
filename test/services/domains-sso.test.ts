import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeKindDeps } from '../../core/approvals/kinds.js';
import { withTenant } from '../../core/db/pool.js';
import { domainChangeKinds } from '../../core/domains/change-kinds.js';
import { claimDomain, getDomain, listDomains, removeDomain } from '../../core/domains/service.js';
import { createWebhookTargetPolicy } from '../../core/net/webhook-target.js';
import { ssoChangeKinds } from '../../core/sso/change-kinds.js';
import { createSsoConnection, deleteSsoConnection, getSsoConnection, listSsoConnections, type SsoPolicy, updateSsoConnection } from '../../core/sso/service.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The domain and SSO connection services and their change-kind handlers against the real database,
 * through the application role (row-level security applies); OIDC discovery against a loopback
 * HTTP server, SAML metadata from certificates made by openssl.
 */
let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
let idp: Server;
let idpUrl = '';
/** Discovery documents by path; `issuer` defaults to the URL the document is served for. */
const documents = new Map<string, Record<string, unknown>>();

const loopback = createWebhookTargetPolicy({ allowedNetworks: ['127.0.0.0/8'] });
const policy: SsoPolicy = { targets: loopback, allowHttp: true };
const actor = { type: 'user' as const, id: '11111111-1111-4111-8111-111111111111' };
const ctx = (t: TestTenant) => ({ tenantId: t.id, actor, requestId: 'req-1' });
const inTenant = <T>(t: TestTenant, fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.app, t.id, fn);
const Audit = z.object({ action: z.string(), data: z.record(z.unknown()) });
const auditOf = (t: TestTenant, targetId: string) => stack.owner.any(sql.type(Audit)`SELECT action, data FROM audit_events WHERE tenant_id = ${t.id} AND target_id = ${targetId} ORDER BY id`);
const markVerified = (id: string) => stack.owner.query(sql.unsafe`UPDATE domains SET state = 'verified', verified_at = now() WHERE id = ${id}`);

beforeAll(async () => {
  stack = await startStack();
  a = await stack.createTenant();
  b = await stack.createTenant();
  idp = createServer((req, res) => {
    const path = (req.url ?? '').replace('/.well-known/openid-configuration', '');
    const doc = documents.get(path);
    if (!doc) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stack?.close();
  await new Promise((r) => idp?.close(r));
});

function serveDiscovery(path: string, overrides: Record<string, unknown> = {}): string {
  const issuer = `${idpUrl}${path}`;
  documents.set(path, {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    ...overrides,
  });
  return issuer;
}

describe('domains service', () => {
  it('claims a normalised name with its TXT challenge, audited; refuses bad and duplicate names', async () => {
    const d = await inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: ' Acme.Example. ' }));
    expect(d).toMatchObject({ name: 'acme.example', state: 'pending', verifiedAt: null, challenge: { type: 'TXT', name: '_roster-challenge.acme.example' } });
    expect(Date.parse(d.expiresAt) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect((await auditOf(a, d.id)).map((e) => e.action)).toEqual(['domain.claimed']);
    await expect(inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: 'acme.example' }))).rejects.toMatchObject({ status: 409 });
    for (const name of ['localhost', 'no spaces.example', '-bad.example', 'a..example', `${'x'.repeat(64)}.example`]) {
      await expect(inTenant(a, (tx) => claimDomain(tx, ctx(a), { name }))).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    }
    // Another tenant may claim the same name (only one can verify it); it never sees A's claim.
    const other = await inTenant(b, (tx) => claimDomain(tx, ctx(b), { name: 'acme.example' }));
    expect(other.challenge.value).not.toBe(d.challenge.value);
    await expect(inTenant(b, (tx) => getDomain(tx, b.id, d.id))).rejects.toMatchObject({ status: 404 });
    expect((await inTenant(b, (tx) => listDomains(tx, b.id))).map((x) => x.id)).toEqual([other.id]);
    // Row-level security, even when the tenant filter is wrong: B's transaction sees none of A's rows.
    expect(await inTenant(b, (tx) => tx.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM domains WHERE tenant_id = ${a.id}`))).toEqual([]);
  });

  it('the database refuses a second tenant verifying a name another verified', async () => {
    const first = await inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: 'unique-verify.example' }));
    const second = await inTenant(b, (tx) => claimDomain(tx, ctx(b), { name: 'unique-verify.example' }));
    await markVerified(first.id);
    await expect(markVerified(second.id)).rejects.toThrow(/unique|duplicate/i);
  });

  it('removes a claim (audited) unless an SSO connection allows the domain', async () => {
    const d = await inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: 'in-use.example' }));
    await markVerified(d.id);
    const conn = await inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, { protocol: 'oidc', name: 'Uses it', issuer: serveDiscovery('/in-use'), clientId: 'c', allowedDomains: ['in-use.example'] }));
    await expect(inTenant(a, (tx) => removeDomain(tx, ctx(a), { domainId: d.id }))).rejects.toMatchObject({ status: 409, code: 'in_use' });
    await inTenant(a, (tx) => deleteSsoConnection(tx, ctx(a), conn.id));
    const removed = await inTenant(a, (tx) => removeDomain(tx, ctx(a), { domainId: d.id }));
    expect(removed.state).toBe('removed');
    expect((await auditOf(a, d.id)).map((e) => e.action)).toEqual(['domain.claimed', 'domain.removed']);
    await expect(inTenant(a, (tx) => removeDomain(tx, ctx(a), { domainId: d.id }))).rejects.toMatchObject({ status: 404 });
    // B cannot remove A's domain.
    const mine = await inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: 'in-use.example' }));
    await expect(inTenant(b, (tx) => removeDomain(tx, ctx(b), { domainId: mine.id }))).rejects.toMatchObject({ status: 404 });
  });
});

describe('OIDC connections', () => {
  it('reads the provider from its discovery document; allowed domains must be verified domains of the tenant', async () => {
    const issuer = serveDiscovery('/good', { userinfo_endpoint: `${idpUrl}/good/userinfo` });
    const d = await inTenant(a, (tx) => claimDomain(tx, ctx(a), { name: 'oidc.example' }));
    const body = { protocol: 'oidc' as const, name: 'Entra', issuer, clientId: 'client-123', allowedDomains: ['oidc.example'] };
    await expect(inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, body))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('oidc.example is not a verified domain') });
    await markVerified(d.id);
    // B has not verified it: B may not name it.
    await expect(inTenant(b, (tx) => createSsoConnection(tx, ctx(b), policy, body))).rejects.toMatchObject({ status: 400 });
    const conn = await inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, body));
    expect(conn).toMatchObject({
      protocol: 'oidc',
      name: 'Entra',
      allowedDomains: ['oidc.example'],
      saml: null,
      oidc: { issuer, clientId: 'client-123', authorizationEndpoint: `${issuer}/authorize`, tokenEndpoint: `${issuer}/token`, jwksUri: `${issuer}/jwks`, userinfoEndpoint: `${idpUrl}/good/userinfo` },
    });
    expect((await auditOf(a, conn.id)).map((e) => e.action)).toEqual(['sso_connection.created']);
    await expect(inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, { ...body, name: 'entra' }))).rejects.toMatchObject({ status: 409 });
    await expect(inTenant(b, (tx) => getSsoConnection(tx, b.id, conn.id))).rejects.toMatchObject({ status: 404 });
    expect(await inTenant(b, (tx) => listSsoConnections(tx, b.id))).toEqual([]);
  });

  it('refuses an issuer whose discovery document names another issuer, and unusable documents', async () => {
    const issuer = serveDiscovery('/mismatch', { issuer: 'https://login.attacker.example' });
    const create = (iss: string, p: SsoPolicy = policy) => inTenant(a, (tx) => createSsoConnection(tx, ctx(a), p, { protocol: 'oidc', name: `x-${Math.random()}`, issuer: iss, clientId: 'c', allowedDomains: [] }));
    await expect(create(issuer)).rejects.toMatchObject({ status: 422, code: 'issuer_mismatch' });
    await expect(create(`${idpUrl}/missing`)).rejects.toMatchObject({ status: 422, code: 'discovery_failed', message: expect.stringContaining('404') });
    await expect(create(serveDiscovery('/no-jwks', { jwks_uri: undefined }))).rejects.toMatchObject({ status: 422, message: expect.stringContaining('jwks_uri') });
    await expect(create(serveDiscovery('/ftp', { token_endpoint: 'ftp://127.0.0.1/token' }))).rejects.toMatchObject({ status: 422, message: expect.stringContaining('token_endpoint') });
    // Production: https only.
    await expect(create(serveDiscovery('/http'), { targets: loopback, allowHttp: false })).rejects.toMatchObject({ status: 400, message: 'issuer: must be https' });
    // The SSRF guard: loopback is not a public address unless the operator allows it.
    await expect(create(serveDiscovery('/ssrf'), { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: true })).rejects.toMatchObject({ status: 400, message: expect.stringContaining('not a public address') });
    await expect(create('http://169.254.169.254/latest', { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: true })).rejects.toMatchObject({ status: 400 });
  });

  it('updates (discovery again when the issuer changes) and deletes, audited with before and after', async () => {
    const conn = await inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, { protocol: 'oidc', name: 'Google', issuer: serveDiscovery('/g1'), clientId: 'one', allowedDomains: [] }));
    const moved = await inTenant(a, (tx) => updateSsoConnection(tx, ctx(a), policy, conn.id, { issuer: serveDiscovery('/g2'), clientId: 'two' }));
    expect(moved.oidc).toMatchObject({ issuer: `${idpUrl}/g2`, clientId: 'two', tokenEndpoint: `${idpUrl}/g2/token` });
    await expect(inTenant(a, (tx) => updateSsoConnection(tx, ctx(a), policy, conn.id, { metadataXml: '<x/>' }))).rejects.toMatchObject({ status: 400 });
    await expect(inTenant(b, (tx) => updateSsoConnection(tx, ctx(b), policy, conn.id, { clientId: 'b' }))).rejects.toMatchObject({ status: 404 });
    await expect(inTenant(b, (tx) => deleteSsoConnection(tx, ctx(b), conn.id))).rejects.toMatchObject({ status: 404 });
    await inTenant(a, (tx) => deleteSsoConnection(tx, ctx(a), conn.id));
    await expect(inTenant(a, (tx) => getSsoConnection(tx, a.id, conn.id))).rejects.toMatchObject({ status: 404 });
    const audit = await auditOf(a, conn.id);
    expect(audit.map((e) => e.action)).toEqual(['sso_connection.created', 'sso_connection.updated', 'sso_connection.deleted']);
    expect(audit[1]!.data).toMatchObject({ before: { oidc: { clientId: 'one' } }, after: { oidc: { clientId: 'two' } } });
  });
});

describe('SAML connections', () => {
  const saml = (metadataXml: string, name = `saml-${Math.random()}`) => inTenant(a, (tx) => createSsoConnection(tx, ctx(a), policy, { protocol: 'saml', name, metadataXml, allowedDomains: [] }));

  it('extracts the entity id, SSO URL and binding, and the signing certificates with their expiry', async () => {
    const cert = makeCertificate({ cn: 'okta-signing', validDays: 400 });
    const conn = await saml(samlMetadata({ entityId: 'http://www.okta.com/exk1', ssoUrl: 'https://acme.okta.com/app/sso/saml', certificates: [cert] }));
    expect(conn.saml).toMatchObject({ entityId: 'http://www.okta.com/exk1', ssoUrl: 'https://acme.okta.com/app/sso/saml', ssoBinding: 'HTTP-Redirect' });
    expect(conn.saml!.certificates).toHaveLength(1);
    expect(conn.saml!.certificates[0]).toMatchObject({ subject: 'CN=okta-signing', fingerprintSha256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) });
    expect(Math.round((Date.parse(conn.certificateExpiresAt!) - Date.now()) / 86_400_000)).toBe(400);
    const post = await saml(samlMetadata({ binding: 'HTTP-POST', certificates: [cert] }));
    expect(post.saml!.ssoBinding).toBe('HTTP-POST');
  });

  it('refuses an expired certificate, DTDs and entities (XXE), malformed XML and metadata without a signing certificate', async () => {
    await expect(saml(samlMetadata({ certificates: [makeCertificate({ expired: true })] }))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('every signing certificate has expired') });
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"><md:IDPSSODescriptor/></md:EntityDescriptor>`;
    await expect(saml(xxe)).rejects.toMatchObject({ status: 400, message: 'metadataXml: DTDs and entity declarations are not allowed' });
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`;
    await expect(saml(laughs)).rejects.toMatchObject({ status: 400 });
    await expect(saml('<md:EntityDescriptor><unclosed></md:EntityDescriptor>')).rejects.toMatchObject({ status: 400, message: expect.stringContaining('not well-formed XML') });
    await expect(saml(samlMetadata({ certificates: [makeCertificate()], use: 'encryption' }))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('no signing certificate') });
    await expect(saml(samlMetadata({ certificates: [makeCertificate()], ssoUrl: 'http://idp.example.com/sso' }).replace('http://idp', 'javascript://idp'))).rejects.toMatchObject({ status: 400 });
    await expect(saml(samlMetadata({ certificates: ['bm90IGEgY2VydGlmaWNhdGU='] }))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('not a valid X.509') });
  });
});

describe('change-kind handlers', () => {
  const deps: ChangeKindDeps & { started: unknown[] } = {
    catalogue: [],
    webhooks: { allowHttpLoopback: true, secretKey: Buffer.alloc(32), targets: loopback },
    secretKey: Buffer.alloc(32),
    started: [],
    startWorkflow: async (start) => {
      deps.started.push(start);
    },
  };
  const kind = (k: string) => [...domainChangeKinds, ...ssoChangeKinds].find((h) => h.kind === k)!;

  it('covers the five kinds of the contract', () => {
    expect([...domainChangeKinds, ...ssoChangeKinds].map((h) => h.kind).sort()).toEqual(['domain.claim', 'domain.remove', 'sso_connection.create', 'sso_connection.delete', 'sso_connection.update']);
  });

  it('domain.claim: describes, applies through the service, and starts verification after commit', async () => {
    const h = kind('domain.claim');
    const payload = h.payload.parse({ name: 'Handler.Example' });
    const described = await inTenant(a, (tx) => h.describe(tx, ctx(a), deps, payload));
    expect(described).toMatchObject({ summary: 'Claim the domain handler.example', before: null, after: { domain: 'handler.example', state: 'pending' } });
    const applied = await inTenant(a, (tx) => h.apply(tx, ctx(a), deps, payload));
    expect(applied.result).toMatchObject({ name: 'handler.example', challenge: { name: '_roster-challenge.handler.example' } });
    expect(applied.secret).toBeUndefined();
    const verification = await h.verify!(stack.app, ctx(a), deps, payload, applied.result);
    expect(verification.ok).toBe(true);
    expect(deps.started).toEqual([{ workflowType: 'domainVerification', workflowId: `domain/${a.id}/${String(applied.result['domainId'])}`, args: [{ tenantId: a.id, domainId: applied.result['domainId'] }] }]);
    // Now claimed: describing the same claim again refuses it.
    await expect(inTenant(a, (tx) => h.describe(tx, ctx(a), deps, payload))).rejects.toMatchObject({ status: 409 });
    const remove = kind('domain.remove');
    const removal = await inTenant(a, (tx) => remove.describe(tx, ctx(a), deps, { domainId: applied.result['domainId'] }));
    expect(removal).toMatchObject({ before: { domain: 'handler.example', state: 'pending' }, after: { domain: 'handler.example', state: 'removed' } });
  });

  it('sso_connection.*: before/after without PEM bodies, applied through the service', async () => {
    const create = kind('sso_connection.create');
    const payload = create.payload.parse({ protocol: 'saml', name: 'ADFS', metadataXml: samlMetadata({ certificates: [makeCertificate({ cn: 'adfs' })] }) });
    const described = await inTenant(a, (tx) => create.describe(tx, ctx(a), deps, payload));
    expect(described.before).toBeNull();
    expect(described.after).toMatchObject({ protocol: 'saml', name: 'ADFS', saml: { entityId: 'https://idp.example.com/metadata', certificates: [{ subject: 'CN=adfs' }] } });
    expect(JSON.stringify(described)).not.toContain('BEGIN CERTIFICATE');
    const applied = await inTenant(a, (tx) => create.apply(tx, ctx(a), deps, payload));
    const id = String(applied.result['connectionId']);
    const update = kind('sso_connection.update');
    const change = await inTenant(a, (tx) => update.describe(tx, ctx(a), deps, update.payload.parse({ connectionId: id, name: 'ADFS (prod)' })));
    expect(change).toMatchObject({ before: { name: 'ADFS' }, after: { name: 'ADFS (prod)' } });
    await inTenant(a, (tx) => update.apply(tx, ctx(a), deps, update.payload.parse({ connectionId: id, name: 'ADFS (prod)' })));
    const del = kind('sso_connection.delete');
    expect(await inTenant(a, (tx) => del.describe(tx, ctx(a), deps, { connectionId: id }))).toMatchObject({ before: { name: 'ADFS (prod)' }, after: null });
    await expect(inTenant(b, (tx) => del.describe(tx, ctx(b), deps, { connectionId: id }))).rejects.toMatchObject({ status: 404 });
    await inTenant(a, (tx) => del.apply(tx, ctx(a), deps, { connectionId: id }));
    expect((await inTenant(a, (tx) => listSsoConnections(tx, a.id))).map((c) => c.id)).not.toContain(id);
  });
});

