import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createWebhookTargetPolicy } from '../../core/net/webhook-target.js';
import { createSsoConnection } from '../../core/sso/service.js';
import { expectAccessible, type Journey, startJourney } from '../helpers/browser.js';
import { approveAndWait } from '../helpers/approvals.js';
import { browserSignIn, portalClient } from '../helpers/portal.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
import { eventually, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let tenant: TestTenant;
let journey: Journey;

beforeAll(async () => {
  journey = await startJourney({ artifacts: 'portal-domains', stack: { worker: true }, context: { viewport: { width: 1280, height: 860 } } });
  stack = journey.stack;
  tenant = await stack.createTenant();
});

afterAll(() => journey?.close());

describe('domains and SSO pages (real browser)', () => {
  it('an admin requests a claim (told it needs approval), an approver approves, the page shows the TXT record to publish', async () => {
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['admin'] });
    await page.goto(`${stack.url}/domains`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Domains');
    await expect.poll(() => page.getByText('No domain claimed yet').count()).toBe(1);

    await page.getByRole('button', { name: 'Claim a domain…' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByText('This change needs approval').count()).toBe(1);
    await dialog.getByLabel('Domain').fill('not a domain');
    await dialog.getByRole('button', { name: 'Request the claim' }).click();
    await expect.poll(() => dialog.getByText(/not a domain name/).count()).toBeGreaterThan(0);
    await dialog.getByLabel('Domain').fill('Browser.Example');
    await dialog.getByLabel('Reason for the approvers').fill('SSO rollout');
    await journey.shot(page, '1-claim-dialog');
    await expectAccessible(page, 'claim dialog');
    await dialog.getByRole('button', { name: 'Request the claim' }).click();
    await expect.poll(() => page.getByText('Sent for approval').count()).toBe(1);
    const link = await page.getByRole('link', { name: 'Follow the request' }).getAttribute('href');
    expect(link).toMatch(/^\/approvals\/[0-9a-f-]{36}$/);
    await journey.shot(page, '2-sent-for-approval');

    const approver = await portalClient(stack, tenant, { roles: ['approver'] });
    const requestId = link!.split('/').at(-1)!;
    const request = (await approver.request('GET', `/approvals/${requestId}`)).body;
    expect((await approver.request('POST', `/approvals/${requestId}/decide`, { verdict: 'approve', changeHash: request.changeHash })).body.outcome).toBe('approved');
    await eventually(async () => ((await approver.request('GET', `/approvals/${requestId}`)).body.state === 'applied' ? true : null), 20_000);

    await page.reload();
    const record = page.getByTestId('txt-record');
    await expect.poll(() => record.textContent(), { timeout: 15_000 }).toContain('_roster-challenge.browser.example');
    expect(await record.textContent()).toMatch(/roster-verification=[A-Za-z0-9_-]{32}/);
    await expect.poll(() => page.getByText('Waiting for the TXT record').count()).toBe(1);
    await journey.shot(page, '3-txt-record');
    await expectAccessible(page, 'domains page');
  });

  it('the SSO page shows a SAML connection with its certificate expiry warning', async () => {
    const metadataXml = samlMetadata({ entityId: 'https://idp.browser.example/metadata', ssoUrl: 'https://idp.browser.example/sso', certificates: [makeCertificate({ cn: 'browser-idp', validDays: 20 })] });
    await withTenant(stack.app, tenant.id, (tx) =>
      createSsoConnection(tx, { tenantId: tenant.id, actor: { type: 'user', id: 'seed' } }, { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: false }, { protocol: 'saml', name: 'Browser IdP', metadataXml, allowedDomains: [] }),
    );
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['auditor'] });
    await page.goto(`${stack.url}/sso`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('SSO connections');
    await expect.poll(() => page.getByRole('heading', { name: 'Browser IdP' }).count()).toBe(1);
    const expiry = await page.getByTestId('certificate-expiry').textContent();
    expect(expiry).toMatch(/(19|20) days left/);
    expect(await page.getByText('https://idp.browser.example/sso').count()).toBe(1);
    // Auditors read; only admins request changes.
    expect(await page.getByRole('button', { name: 'New SSO connection…' }).count()).toBe(0);
    await journey.shot(page, '4-sso-connection');
    await expectAccessible(page, 'sso page');
  });

  it('an admin requests a change of a connection from its form; once two approvers agree the page shows it', async () => {
    const t = await stack.createTenant();
    await withTenant(stack.app, t.id, (tx) =>
      createSsoConnection(
        tx,
        { tenantId: t.id, actor: { type: 'user', id: 'seed' } },
        { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: false },
        {
          protocol: 'saml',
          name: 'Old IdP name',
          metadataXml: samlMetadata({ entityId: 'https://idp.change.example/metadata', ssoUrl: 'https://idp.change.example/sso', certificates: [makeCertificate({ cn: 'change-idp', validDays: 200 })] }),
          allowedDomains: [],
        },
      ),
    );
    const page = await journey.page();
    await browserSignIn(page, stack, t, { roles: ['admin'] });
    await page.goto(`${stack.url}/sso`);
    await expect.poll(() => page.getByRole('heading', { name: 'Old IdP name' }).count(), { timeout: 15_000 }).toBe(1);
    await page.getByRole('button', { name: 'Change Old IdP name…' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByLabel('Name').inputValue()).toBe('Old IdP name');
    // Nothing edited: refused in the form, nothing requested.
    await dialog.getByRole('button', { name: 'Request the change' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/Nothing changed/);
    await dialog.getByLabel('Name').fill('New IdP name');
    await dialog.getByLabel('Reason for the approvers').fill('rename after the merger');
    await journey.shot(page, '5-sso-change-dialog');
    await expectAccessible(page, 'sso change dialog');
    await dialog.getByRole('button', { name: 'Request the change' }).click();
    await expect.poll(() => page.getByText('Sent for approval').count(), { timeout: 15_000 }).toBe(1);
    await journey.shot(page, '6-sso-change-requested');

    // The request carries exactly the rename (no metadata: the current certificates stay).
    const first = await portalClient(stack, t, { roles: ['approver'] });
    const second = await portalClient(stack, t, { roles: ['approver'] });
    const waiting = (await first.request('GET', '/approvals?box=waiting')).body.data;
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ kind: 'sso_connection.update', reason: 'rename after the merger', payload: { name: 'New IdP name' } });
    expect(Object.keys(waiting[0].payload).sort()).toEqual(['connectionId', 'name']);
    // Until approved the connection is as it was.
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { name: 'Old IdP name' }).count(), { timeout: 15_000 }).toBe(1);
    const decided = await first.request('POST', `/approvals/${waiting[0].id}/decide`, { verdict: 'approve', changeHash: waiting[0].changeHash });
    expect(decided.body.outcome).toBe('recorded');
    const applied = await approveAndWait(second, waiting[0].id);
    expect(applied.state).toBe('applied');
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { name: 'New IdP name' }).count(), { timeout: 15_000 }).toBe(1);
    expect(await page.getByText('https://idp.change.example/sso').count()).toBe(1);
    await journey.shot(page, '7-sso-changed');
  });
});
