import { randomUUID } from 'node:crypto';
import { type Page } from 'playwright-core';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { recordEvent } from '../../core/repositories/events.js';
import { recordDeliveryAttempt } from '../../core/webhooks/queries.js';
import { browserSignIn, type PortalTestClient } from '../helpers/portal.js';
import { type TestStack, type TestTenant } from '../helpers/stack.js';
import { expectAccessible, type Journey, startJourney } from '../helpers/browser.js';
import { applyAtOnce, approveAndWait, PORTAL_DIRECT_KINDS, setApprovalPolicy } from '../helpers/approvals.js';
import { portalClient } from '../helpers/portal.js';

let stack: TestStack;
let tenant: TestTenant;
let journey: Journey;

beforeAll(async () => {
  // Pages may read and write the clipboard: the copy button is what we test.
  journey = await startJourney({ artifacts: 'portal-connections', stack: { worker: true, env: { SCIM_ACTIVITY_FLUSH_MS: '200' } }, context: { viewport: { width: 1280, height: 860 } }, clipboard: true });
  stack = journey.stack;
  tenant = await stack.createTenant();
  // Changes apply at once here, except a connection revoke (privileged: always one approver);
  // test/e2e/portal-approvals.test.ts walks the approval journeys themselves.
  await applyAtOnce(stack, tenant.id, PORTAL_DIRECT_KINDS);
  await setApprovalPolicy(stack, tenant.id, { 'scim_connection.revoke': { approvals: 1 } });
});

afterAll(() => journey?.close());

const createUser = (token: string, userName: string) => stack.scim(token, 'POST', '/Users', { userName });
const clipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());

/** The shown-once dialog: copy with its button, check the clipboard, close it; returns the token. */
async function copyShownToken(page: Page, name: string): Promise<string> {
  const dialog = page.getByRole('dialog');
  await expect.poll(() => dialog.getByTestId('secret-value').inputValue()).toMatch(/^roster_scim_/);
  await expect.poll(() => dialog.getByText('cannot be shown again').count()).toBeGreaterThan(0);
  await journey.shot(page, name);
  await expectAccessible(page, name);
  const shown = await dialog.getByTestId('secret-value').inputValue();
  await dialog.getByTestId('secret-reveal').getByRole('button', { name: 'Copy' }).click();
  await expect.poll(() => dialog.getByText('Copied', { exact: true }).count()).toBe(1);
  const copied = await clipboard(page);
  expect(copied).toBe(shown);
  await dialog.getByRole('button', { name: 'I have saved it' }).click();
  await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
  return copied;
}

describe('connections and settings (real browser)', () => {
  let admin: PortalTestClient;

  it('admin creates a SCIM connection, copies its token once, the token works; rotate with overlap and revoke work', async () => {
    const page = await journey.page();
    admin = await browserSignIn(page, stack, tenant, { roles: ['admin'] });
    await page.goto(`${stack.url}/connections`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Connections');
    expect(await page.getByTestId('scim-base-url').textContent()).toBe(`${stack.url}/scim/v2`);
    // The setup guide names the IdP's own fields and carries the tenant's base URL.
    await page.getByRole('tab', { name: 'Microsoft Entra ID' }).click();
    expect(await page.getByRole('tabpanel').textContent()).toContain('Tenant URL');
    expect(await page.getByTestId('guide-base-url').textContent()).toBe(`${stack.url}/scim/v2`);
    await journey.shot(page, '01-connections');
    await expectAccessible(page, 'connections');

    await page.getByRole('button', { name: 'New SCIM connection' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('Okta production');
    await page.getByRole('dialog').getByRole('button', { name: 'Create connection' }).click();
    const token = await copyShownToken(page, '02-token-shown-once');
    expect((await createUser(token, 'browser-made@example.com')).status).toBe(201);

    const card = page.getByRole('region', { name: 'Okta production' });
    // Its traffic shows up on the card: the last request and the error the IdP got.
    expect((await stack.scim(token, 'POST', '/Users', { displayName: 'no userName' })).status).toBe(400);
    await expect
      .poll(async () => {
        await page.reload();
        await card.getByTestId('last-hour').waitFor();
        return card.getByRole('table', { name: 'Recent SCIM errors of Okta production' }).getByText('POST /scim/v2/Users').count();
      }, { timeout: 15_000 })
      .toBe(1);
    expect(await card.getByTestId('last-hour').textContent()).toContain('2 requests, 1 error (50%)');
    await journey.shot(page, '03a-connection-activity');
    await expect.poll(() => card.getByRole('table', { name: 'Tokens of Okta production' }).getByRole('row').count()).toBe(2); // header + one token
    await card.getByRole('button', { name: 'Rotate token' }).click();
    await page.getByRole('dialog').getByLabel('Overlap').selectOption({ label: '1 hour' });
    await page.getByRole('dialog').getByRole('button', { name: 'Issue new token' }).click();
    const rotated = await copyShownToken(page, '03-rotated-token');
    expect(rotated).not.toBe(token);
    expect((await createUser(token, 'old-in-overlap@example.com')).status).toBe(201);
    expect((await createUser(rotated, 'new-after-rotate@example.com')).status).toBe(201);
    await expect.poll(() => card.getByText('expiring').count()).toBe(1);
    await journey.shot(page, '04-after-rotate');

    await card.getByRole('button', { name: /^Revoke token / }).first().click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await expect.poll(() => card.getByText('revoked', { exact: true }).count()).toBe(1);
    expect((await createUser(token, 'old-after-revoke@example.com')).status).toBe(401);
    expect((await createUser(rotated, 'new-still-ok@example.com')).status).toBe(201);

    await card.getByRole('button', { name: 'Revoke connection' }).click();
    // The dialog says the revoke needs an approver before it is sent.
    await expect.poll(() => page.getByRole('dialog').getByTestId('needs-approval').textContent()).toContain('needs 1 approval under your policy');
    await journey.shot(page, '05-confirm-revoke-connection');
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke connection' }).click();
    const requested = page.getByTestId('change-requested');
    await expect.poll(() => requested.count(), { timeout: 10_000 }).toBe(1);
    const requestId = (await requested.getByRole('link', { name: 'Open the request' }).getAttribute('href'))!.split('/').pop()!;
    // Until someone else approves, the connection keeps working.
    expect((await createUser(rotated, 'while-revoke-waits@example.com')).status).toBe(201);
    const approver = await portalClient(stack, tenant, { roles: ['approver'] });
    expect(await approveAndWait(approver, requestId)).toMatchObject({ state: 'applied' });
    await page.reload();
    await expect.poll(() => card.getByRole('button', { name: 'Rotate token' }).count(), { timeout: 10_000 }).toBe(0);
    expect((await createUser(rotated, 'after-connection-revoke@example.com')).status).toBe(401);
    await journey.shot(page, '06-connection-revoked');

    const actions = await stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM audit_events WHERE tenant_id = ${tenant.id} AND actor_type = 'user' AND actor_id = ${admin.userId} AND action LIKE 'scim%' ORDER BY id`);
    expect(actions).toEqual(['scim_connection.created', 'scim_token.rotated', 'scim_token.revoked', 'scim_connection.revoked']);

    // Tablet width: the same page stays usable.
    await page.setViewportSize({ width: 768, height: 1024 });
    await journey.shot(page, '07-connections-tablet');
  });

  it('admin changes the grace period and guard thresholds on the settings page, audited', async () => {
    const page = await journey.page();
    const client = await browserSignIn(page, stack, tenant, { roles: ['admin'] });
    await page.goto(`${stack.url}/settings`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Settings');
    const grace = page.getByLabel('Grace period (days)');
    await expect.poll(() => grace.inputValue()).toBe('30');
    await journey.shot(page, '08-settings');
    await expectAccessible(page, 'settings');

    await grace.fill('-3');
    await page.getByRole('button', { name: 'Save grace period' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Deletion grace period' }).locator('.field-error').count()).toBe(1);
    await journey.shot(page, '09-settings-invalid');
    await grace.fill('14');
    await page.getByRole('button', { name: 'Save grace period' }).click();
    await expect.poll(() => page.getByText('Settings saved').count()).toBeGreaterThan(0);

    await page.getByLabel('Leavers per window').fill('20');
    await page.getByLabel('Share of people per window (%)').fill('5');
    await page.getByRole('button', { name: 'Save guard thresholds' }).click();
    await expect.poll(async () => (await client.request('GET', '/settings')).body.guard.maxSuspensions).toBe(20);
    expect((await client.request('GET', '/settings')).body).toEqual({ deletionGraceSeconds: 14 * 86_400, guard: { maxSuspensions: 20, maxShare: 0.05, windowSeconds: 3600 } });
    await journey.shot(page, '10-settings-saved');

    const audit = await stack.owner.any(sql.type(z.object({ actor_id: z.string(), data: z.record(z.unknown()) }))`
      SELECT actor_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND action = 'tenant.settings_updated' ORDER BY id`);
    expect(audit).toEqual([
      { actor_id: client.userId, data: { before: { deletionGraceSeconds: 2_592_000 }, after: { deletionGraceSeconds: 1_209_600 } } },
      { actor_id: client.userId, data: { before: { 'guard.maxSuspensions': 50, 'guard.maxShare': 0.2 }, after: { 'guard.maxSuspensions': 20, 'guard.maxShare': 0.05 } } },
    ]);
    // A webhook endpoint: its signing secret is shown once, with a copy button.
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('dialog').getByLabel('URL').fill('https://hooks.example.com/roster');
    await page.getByRole('dialog').getByRole('button', { name: 'Add endpoint' }).click();
    const secretBox = page.getByRole('dialog').getByTestId('secret-value');
    await expect.poll(() => secretBox.inputValue()).toMatch(/^whsec_/);
    const secret = await secretBox.inputValue();
    await page.getByRole('dialog').getByTestId('secret-reveal').getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => clipboard(page)).toBe(secret);
    await journey.shot(page, '10a-webhook-secret');
    await page.getByRole('dialog').getByRole('button', { name: 'I have saved it' }).click();
    const hooks = await client.request('GET', '/settings/webhooks');
    expect(hooks.body.data).toEqual([expect.objectContaining({ url: 'https://hooks.example.com/roster', eventTypes: null })]);
    expect(JSON.stringify(hooks.body)).not.toContain(secret);

    // Its delivery log: one failed attempt (recorded as the delivery activity records it), with its HTTP answer and latency.
    const eventId = randomUUID();
    await withTenant(stack.app, tenant.id, async (tx) => {
      await recordEvent(tx, tenant.id, { id: eventId, type: 'user.provisioned', subjectType: 'user', subjectId: randomUUID() });
      await recordDeliveryAttempt(tx, tenant.id, { eventId, endpointId: hooks.body.data[0].id, status: 503, error: 'HTTP 503', delivered: false, latencyMs: 42 });
    });
    await page.getByRole('button', { name: 'Deliveries to https://hooks.example.com/roster' }).click();
    const deliveries = page.getByRole('dialog');
    // (The endpoint's own change.applied event may be in the log too: the row of this event is checked.)
    const redeliver = deliveries.getByRole('button', { name: `Redeliver user.provisioned ${eventId}` });
    await expect.poll(() => redeliver.count()).toBe(1);
    const row = deliveries.getByRole('row').filter({ hasText: 'user.provisioned' });
    expect(await row.getByText('HTTP 503').count()).toBe(1);
    expect(await row.getByText('503 in 42 ms').count()).toBe(1);
    expect(await row.getByText('failing').count()).toBe(1);
    await expectAccessible(page, 'webhook-deliveries');
    await journey.shot(page, '10c-webhook-deliveries');
    await page.keyboard.press('Escape');

    // A held leaver, released after confirming.
    const held = await stack.scim(tenant, 'POST', '/Users', { userName: 'held.browser@example.com' });
    await withTenant(stack.owner, tenant.id, (tx) => tx.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${tenant.id}, ${held.body.id})`));
    await page.reload();
    const heldRegion = page.getByRole('region', { name: 'Held leavers' });
    await heldRegion.getByRole('button', { name: 'Release held.browser@example.com' }).click({ timeout: 15_000 });
    await journey.shot(page, '10b-release-confirm');
    await page.getByRole('dialog').getByRole('button', { name: 'Release' }).click();
    await expect.poll(() => heldRegion.getByText('Nobody is held').count()).toBe(1);
    expect((await client.request('GET', '/settings/held-leavers')).body.data).toEqual([]);

    // The Members page is one link away.
    expect(await page.getByRole('link', { name: 'Members page' }).getAttribute('href')).toBe('/members');
  });

  it('an auditor sees connections and settings but no buttons that change them', async () => {
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['auditor'] });
    await page.goto(`${stack.url}/connections`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Connections');
    await expect.poll(() => page.getByRole('region', { name: 'default' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'New SCIM connection' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Rotate token' }).count()).toBe(0);
    await page.goto(`${stack.url}/settings`);
    await expect.poll(() => page.getByLabel('Grace period (days)').inputValue(), { timeout: 15_000 }).toBe('14');
    expect(await page.getByLabel('Grace period (days)').isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Save grace period' }).count()).toBe(0);
    await journey.shot(page, '11-settings-auditor');
    await expectAccessible(page, 'settings as auditor');
  });
});
