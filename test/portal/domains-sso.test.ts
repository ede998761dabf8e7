import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The portal's domains and SSO connection API over real HTTP, with a worker: reads per role,
 * changes as approval requests (refused at once when invalid), applied after approval; the
 * verification workflow against a loopback DNS server; the app API's GET /api/v1/sso-connections.
 */
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let admin: PortalTestClient;
let approvers: PortalTestClient[];
let auditor: PortalTestClient;
let reviewer: PortalTestClient;
let otherAdmin: PortalTestClient;
let idp: Server;
let idpUrl = '';
const dns = new TestDnsServer();

beforeAll(async () => {
  await dns.start();
  idp = createServer((req, res) => {
    const path = (req.url ?? '').replace('/.well-known/openid-configuration', '');
    const issuer = path === '/mismatch' ? 'https://someone-else.example' : `${idpUrl}${path}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, authorization_endpoint: `${idpUrl}/authorize`, token_endpoint: `${idpUrl}/token`, jwks_uri: `${idpUrl}/jwks` }));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  stack = await startStack({ worker: true, env: { DNS_RESOLVER: dns.address, APPROVAL_RECONCILE_AFTER_SECONDS: '1' } });
  tenant = await stack.createTenant();
  other = await stack.createTenant();
  admin = await portalClient(stack, tenant, { roles: ['admin'] });
  approvers = [await portalClient(stack, tenant, { roles: ['approver'] }), await portalClient(stack, tenant, { roles: ['approver'] })];
  auditor = await portalClient(stack, tenant, { roles: ['auditor'] });
  reviewer = await portalClient(stack, tenant, { roles: ['reviewer'] });
  otherAdmin = await portalClient(stack, other, { roles: ['admin'] });
});
afterAll(async () => {
  await stack?.close();
  await dns.close();
  await new Promise((r) => idp?.close(r));
});

const decide = (client: PortalTestClient, request: { id: string; changeHash: string }) => client.request('POST', `/approvals/${request.id}/decide`, { verdict: 'approve', changeHash: request.changeHash });
const applied = (id: string) => eventually(async () => ((await admin.request('GET', `/approvals/${id}`)).body.state === 'applied' ? true : null), 20_000);

describe('portal domains', () => {
  let domainId = '';

  it('a claim is a change request; once approved the TXT challenge is shown and the domain verifies when it is published', async () => {
    expect((await auditor.request('POST', '/domains', { name: 'portal.example' })).status).toBe(403);
    expect((await admin.request('POST', '/domains', { name: 'not a domain' })).body).toMatchObject({ error: 'invalid_request' });
    const submitted = await admin.request('POST', '/domains', { name: 'Portal.Example', reason: 'SSO for the main domain' });
    expect(submitted.status).toBe(202);
    expect(submitted.body.request).toMatchObject({ kind: 'domain.claim', state: 'pending', approvalsNeeded: 1, description: { after: { domain: 'portal.example' } } });
    // Nothing changed yet.
    expect((await admin.request('GET', '/domains')).body.domains).toEqual([]);
    expect((await decide(admin, submitted.body.request)).body.error).toBe('refused_requester');
    expect((await decide(approvers[0]!, submitted.body.request)).body.outcome).toBe('approved');
    await applied(submitted.body.request.id);

    const listed = await eventually(async () => (await auditor.request('GET', '/domains')).body.domains[0]);
    expect(listed).toMatchObject({ name: 'portal.example', state: 'pending', challenge: { type: 'TXT', name: '_roster-challenge.portal.example' } });
    domainId = listed.id;
    // The verification workflow was started when the approved claim applied: publishing the record verifies it.
    dns.txt.set(listed.challenge.name, [listed.challenge.value]);
    const verified = await eventually(async () => {
      const d = (await admin.request('GET', `/domains/${domainId}`)).body;
      return d.state === 'verified' ? d : null;
    }, 60_000);
    expect(verified.verifiedAt).not.toBeNull();
  });

  it('per role and per tenant: reviewers and other tenants see nothing; another tenant cannot request its removal', async () => {
    expect((await reviewer.request('GET', '/domains')).status).toBe(403);
    expect((await approvers[0]!.request('GET', `/domains/${domainId}`)).status).toBe(200);
    expect((await otherAdmin.request('GET', `/domains/${domainId}`)).status).toBe(404);
    expect((await otherAdmin.request('GET', '/domains')).body.domains).toEqual([]);
    expect((await otherAdmin.request('DELETE', `/domains/${domainId}`)).status).toBe(404);
    expect((await auditor.request('DELETE', `/domains/${domainId}`)).status).toBe(403);
  });
});

describe('portal SSO connections and the app API', () => {
  it('refuses an OIDC issuer whose discovery document names another issuer, and XXE metadata, before any request exists', async () => {
    const mismatch = await admin.request('POST', '/sso-connections', { protocol: 'oidc', name: 'Evil', issuer: `${idpUrl}/mismatch`, clientId: 'x' });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error).toBe('issuer_mismatch');
    const xxe = await admin.request('POST', '/sso-connections', {
      protocol: 'saml',
      name: 'XXE',
      metadataXml: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    });
    expect(xxe.status).toBe(400);
    const mine = (await admin.request('GET', '/approvals?box=mine')).body.data as { kind: string }[];
    expect(mine.filter((r) => r.kind.startsWith('sso_connection.'))).toEqual([]);
  });

  it('a SAML connection needs two approvers; once applied it is listed in the portal and to the app, never to another tenant', async () => {
    const metadataXml = samlMetadata({ entityId: 'https://sts.windows.net/abc/', ssoUrl: 'https://login.microsoftonline.com/abc/saml2', certificates: [makeCertificate({ cn: 'Microsoft Azure Federated SSO Certificate', validDays: 90 })] });
    expect((await approvers[0]!.request('POST', '/sso-connections', { protocol: 'saml', name: 'Entra', metadataXml })).status).toBe(403);
    const submitted = await admin.request('POST', '/sso-connections', { protocol: 'saml', name: 'Entra', metadataXml, allowedDomains: ['portal.example'] });
    expect(submitted.status).toBe(202);
    const request = submitted.body.request;
    expect(request).toMatchObject({ kind: 'sso_connection.create', approvalsNeeded: 2, description: { before: null, after: { protocol: 'saml', saml: { entityId: 'https://sts.windows.net/abc/' } } } });
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('recorded');
    expect((await admin.request('GET', '/sso-connections')).body.connections).toEqual([]);
    expect((await decide(approvers[1]!, request)).body.outcome).toBe('approved');
    await applied(request.id);

    const listed = (await auditor.request('GET', '/sso-connections')).body.connections;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ name: 'Entra', protocol: 'saml', allowedDomains: ['portal.example'], saml: { ssoUrl: 'https://login.microsoftonline.com/abc/saml2', ssoBinding: 'HTTP-Redirect' } });
    expect(Math.round((Date.parse(listed[0].certificateExpiresAt) - Date.now()) / 86_400_000)).toBe(90);
    expect((await otherAdmin.request('GET', `/sso-connections/${listed[0].id}`)).status).toBe(404);
    expect((await otherAdmin.request('PATCH', `/sso-connections/${listed[0].id}`, { name: 'mine now' })).status).toBe(404);
    expect((await reviewer.request('GET', '/sso-connections')).status).toBe(403);

    const keys = await Promise.all([tenant, other].map((t) => withTenant(stack.owner, t.id, (tx) => createAppKey(tx, t.id))));
    const app = (key: string) => fetch(`${stack.url}/api/v1/sso-connections`, { headers: { authorization: `Bearer ${key}` } });
    const mine = await app(keys[0]!.appKey);
    expect(mine.status).toBe(200);
    const body = (await mine.json()) as { connections: { id: string; saml: { certificates: { pem: string }[] } }[] };
    expect(body.connections.map((c) => c.id)).toEqual([listed[0].id]);
    expect(body.connections[0]!.saml.certificates[0]!.pem).toContain('BEGIN CERTIFICATE');
    expect(((await (await app(keys[1]!.appKey)).json()) as { connections: unknown[] }).connections).toEqual([]);
    expect((await app('roster_app_nope')).status).toBe(401);

    // A domain an active connection allows cannot be removed (refused when requested).
    const domains = (await admin.request('GET', '/domains')).body.domains;
    const removal = await admin.request('DELETE', `/domains/${domains[0].id}`);
    expect(removal.status).toBe(409);
    expect(removal.body.error).toBe('in_use');
  });

  it('audits who requested and that the change applied', async () => {
    const rows = await stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM audit_events WHERE tenant_id = ${tenant.id} AND action LIKE 'sso_connection.%' ORDER BY id`);
    expect(rows).toEqual(['sso_connection.created']);
  });

  it('the OpenAPI document describes the app route and the portal routes', async () => {
    const doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(doc.paths['/api/v1/sso-connections']?.['get']).toBeDefined();
    for (const [path, methods] of [
      ['/portal/api/domains', ['get', 'post']],
      ['/portal/api/domains/{id}', ['get', 'delete']],
      ['/portal/api/sso-connections', ['get', 'post']],
      ['/portal/api/sso-connections/{id}', ['get', 'patch', 'delete']],
    ] as const) {
      for (const method of methods) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });
});
