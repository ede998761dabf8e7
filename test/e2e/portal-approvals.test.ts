import { type Page } from 'playwright-core';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { expectAccessible, heading, type Journey, startJourney } from '../helpers/browser.js';
import { browserSignIn } from '../helpers/portal.js';
import { eventually, type TestStack } from '../helpers/stack.js';

/**
 * Approvals in the portal (issue 8), in real Chromium against the real app, worker and Temporal:
 * (a) an admin requests a SCIM token rotation, a second admin approves it in the inbox, the
 * requester collects the new token (once), it works against /scim/v2 and the old one stops after
 * its overlap; (b) a role-mapping change with its dry run, approved by an approver, changes the
 * roles of exactly the people the dry run named.
 */
let stack: TestStack;
let journey: Journey;

beforeAll(async () => {
  journey = await startJourney({ artifacts: 'portal-approvals', stack: { worker: true }, clipboard: true });
  stack = journey.stack;
});

afterAll(() => journey?.close());

/** The id in the "Open the request" link of the banner a submitted change shows. */
async function requestedId(page: Page): Promise<string> {
  const banner = page.getByTestId('change-requested');
  await expect.poll(() => banner.count(), { timeout: 15_000 }).toBe(1);
  const href = await banner.getByRole('link', { name: 'Open the request' }).getAttribute('href');
  expect(href).toMatch(/^\/approvals\/[0-9a-f-]{36}$/);
  return href!.split('/').pop()!;
}

describe('approvals in the portal (real browser)', () => {
  it('(a) SCIM token rotation: requested by one admin, approved by another in the inbox, the new token collected once works and the old one stops after the overlap', async () => {
    const tenant = await stack.createTenant();
    const requester = await journey.page();
    const admin = await browserSignIn(requester, stack, tenant, { roles: ['admin'] });
    const approverPage = await journey.page();
    await browserSignIn(approverPage, stack, tenant, { roles: ['admin'] });

    // The rotation dialog says it needs an approval under the (default) policy before it is sent.
    await requester.goto(`${stack.url}/connections`);
    await expect.poll(() => heading(requester), { timeout: 15_000 }).toBe('Connections');
    await requester.getByRole('button', { name: 'Rotate token' }).click();
    const dialog = requester.getByRole('dialog');
    await expect.poll(() => dialog.getByTestId('needs-approval').textContent()).toContain('needs 1 approval under your policy');
    await dialog.getByLabel('Overlap').selectOption({ label: '1 minute: the IdP already has the new token' });
    await journey.shot(requester, '01-rotate-needs-approval');
    await expectAccessible(requester, 'rotate dialog');
    await dialog.getByRole('button', { name: 'Issue new token' }).click();
    const id = await requestedId(requester);
    expect(await requester.getByRole('dialog').count()).toBe(0);
    await journey.shot(requester, '02-rotation-requested');
    // Nothing changed yet: the fixture token still works.
    expect((await stack.scim(tenant.token, 'POST', '/Users', { userName: 'while-waiting@example.com' })).status).toBe(201);

    // The request page: the exact diff, the state, the countdown; the requester's own approval is refused.
    await requester.getByTestId('change-requested').getByRole('link', { name: 'Open the request' }).click();
    await expect.poll(() => heading(requester), { timeout: 15_000 }).toMatch(/^Rotate the token of SCIM connection/);
    const facts = requester.getByTestId('request-facts');
    await expect.poll(() => facts.textContent()).toContain('Waiting for approval');
    expect(await facts.textContent()).toContain('0 of 1 needed');
    expect(await requester.getByTestId('countdown').textContent()).toMatch(/^in \d+ d/);
    const diff = requester.getByTestId('diff');
    expect(await diff.getByRole('row', { name: /liveTokens/ }).textContent()).toContain('(new token)');
    expect(await diff.getByRole('row', { name: /previousTokensStopAfterSeconds/ }).textContent()).toContain('60');
    await requester.getByRole('button', { name: 'Approve' }).click();
    const refused = requester.getByTestId('decision-outcome');
    await expect.poll(() => refused.getAttribute('data-outcome'), { timeout: 15_000 }).toBe('refused_requester');
    expect(await refused.textContent()).toContain('You requested this change, so someone else must approve it.');
    await journey.shot(requester, '03-request-page-requester-refused');
    await expectAccessible(requester, 'request page (requester)');

    // The second admin: a badge in the nav, the request in "Waiting for me", approve.
    await approverPage.goto(`${stack.url}/approvals`);
    await expect.poll(() => heading(approverPage), { timeout: 15_000 }).toBe('Approvals');
    await expect.poll(() => approverPage.getByTestId('pending-badge').textContent(), { timeout: 15_000 }).toContain('1');
    const row = approverPage.getByRole('row', { name: /Rotate the token of SCIM connection/ });
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
    await journey.shot(approverPage, '04-inbox-waiting');
    await expectAccessible(approverPage, 'inbox');
    await row.getByRole('link').click();
    await expect.poll(() => heading(approverPage), { timeout: 15_000 }).toMatch(/^Rotate the token of SCIM connection/);
    await approverPage.getByLabel('Comment').fill('Rotation agreed with the IdP team');
    await approverPage.getByRole('button', { name: 'Approve' }).click();
    const outcome = approverPage.getByTestId('decision-outcome');
    await expect.poll(() => outcome.getAttribute('data-outcome'), { timeout: 15_000 }).toBe('approved');
    expect(await outcome.textContent()).toContain('the change is being applied now');
    await expect.poll(() => approverPage.getByTestId('request-facts').textContent(), { timeout: 30_000 }).toContain('Applied');
    expect(await approverPage.getByTestId('decisions').textContent()).toContain('Rotation agreed with the IdP team');
    await journey.shot(approverPage, '05-approved-and-applied');
    await expect.poll(() => approverPage.getByTestId('pending-badge').count(), { timeout: 15_000 }).toBe(0);

    // The requester collects the new token, once, with a copy button.
    await requester.reload();
    await expect.poll(() => requester.getByTestId('request-facts').textContent(), { timeout: 30_000 }).toContain('Applied');
    await requester.getByRole('button', { name: 'Collect the new token' }).click();
    const secret = requester.getByTestId('secret-value');
    await expect.poll(() => secret.inputValue(), { timeout: 15_000 }).toMatch(/^roster_scim_/);
    const token = await secret.inputValue();
    await requester.getByTestId('secret-reveal').getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => requester.evaluate(() => navigator.clipboard.readText())).toBe(token);
    await journey.shot(requester, '06-token-collected');
    await expectAccessible(requester, 'token collected');
    await requester.reload();
    await expect.poll(() => requester.getByTestId('request-facts').textContent(), { timeout: 15_000 }).toContain('Applied');
    expect(await requester.getByRole('button', { name: 'Collect the new token' }).count()).toBe(0);

    // The new token works against /scim/v2; the old one keeps working for the 1-minute overlap, then stops.
    expect((await stack.scim(token, 'POST', '/Users', { userName: 'new-token@example.com' })).status).toBe(201);
    await eventually(async () => (await stack.scim(tenant.token, 'POST', '/Users', { userName: `old-${Date.now()}@example.com` })).status === 401, 90_000, 1_000);
    expect((await stack.scim(token, 'POST', '/Users', { userName: 'after-overlap@example.com' })).status).toBe(201);

    const actions = await stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
      SELECT action FROM audit_events WHERE tenant_id = ${tenant.id} AND (target_id = ${id} OR action LIKE 'scim_token.%') ORDER BY id`);
    expect(actions).toEqual(expect.arrayContaining(['approval.requested', 'scim_token.rotated', 'approval.secret_collected']));
    expect(admin.userId).toBeTruthy();
  });

  it('(b) role mapping with its dry run: submitted for approval, an approver sees the gains per person and approves, exactly those roles change', async () => {
    const tenant = await stack.createTenant();
    const ids: Record<string, string> = {};
    for (const name of ['fay', 'gus', 'hal']) ids[name] = (await stack.scim(tenant, 'POST', '/Users', { userName: `${name}@example.com`, displayName: name.toUpperCase() })).body.id;
    await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Payroll', members: [{ value: ids.fay }, { value: ids.gus }] });

    const adminPage = await journey.page();
    await browserSignIn(adminPage, stack, tenant, { roles: ['admin'] });
    // The approver exists before the request: with nobody else eligible it would cool off instead.
    const approverPage = await journey.page();
    await browserSignIn(approverPage, stack, tenant, { roles: ['approver'] });
    await adminPage.goto(`${stack.url}/role-mappings`);
    await expect.poll(() => heading(adminPage), { timeout: 15_000 }).toBe('Role mappings');
    await adminPage.getByRole('button', { name: 'Map a group' }).first().click();
    await adminPage.getByRole('dialog').getByRole('button', { name: /Payroll/ }).click({ timeout: 15_000 });
    const dialog = adminPage.getByRole('dialog');
    await dialog.getByRole('checkbox', { name: /^viewer/ }).check();
    await dialog.getByRole('button', { name: 'Preview changes' }).click();
    await expect.poll(() => dialog.getByTestId('preview-row').count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => dialog.getByTestId('needs-approval').textContent()).toContain('needs 1 approval under your policy');
    await journey.shot(adminPage, '07-role-mapping-dry-run');
    await dialog.getByRole('button', { name: 'Submit for approval' }).click();
    await requestedId(adminPage);
    await journey.shot(adminPage, '08-role-mapping-requested');
    // Nothing changed yet.
    expect((await adminPage.getByTestId('default-role').count())).toBe(1);
    const noMapping = await withTenant(stack.owner, tenant.id, (tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM user_roles WHERE tenant_id = ${tenant.id}`));
    expect(noMapping).toEqual([]);

    // An approver opens it from the inbox: the dry run's gains per person, then approves.
    await approverPage.goto(`${stack.url}/approvals`);
    const row = approverPage.getByRole('row', { name: /Map group Payroll to viewer/ });
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
    await row.getByRole('link').click();
    const effects = approverPage.getByTestId('effects');
    await expect.poll(() => effects.textContent(), { timeout: 15_000 }).toContain('2 people gain or lose');
    expect(await effects.getByRole('row', { name: /FAY/ }).textContent()).toContain('+ viewer');
    expect(await effects.getByRole('row', { name: /GUS/ }).textContent()).toContain('+ viewer');
    expect(await effects.getByRole('row', { name: /HAL/ }).count()).toBe(0);
    expect(await approverPage.getByTestId('diff').getByRole('row', { name: /^roles/ }).textContent()).toContain('viewer');
    await journey.shot(approverPage, '09-role-mapping-request-with-dry-run');
    await expectAccessible(approverPage, 'role mapping request');
    await approverPage.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => approverPage.getByTestId('decision-outcome').getAttribute('data-outcome'), { timeout: 15_000 }).toBe('approved');
    await expect.poll(() => approverPage.getByTestId('request-facts').textContent(), { timeout: 30_000 }).toContain('Applied');
    await journey.shot(approverPage, '10-role-mapping-applied');

    // Exactly the previewed people gained the role (applied to each by their lifecycle workflow).
    const granted = await eventually(async () => {
      const rows = await withTenant(stack.owner, tenant.id, (tx) =>
        tx.any(sql.type(z.object({ user_id: z.string(), role: z.string() }))`SELECT user_id::text, role FROM user_roles WHERE tenant_id = ${tenant.id} ORDER BY user_id`),
      );
      return rows.length >= 2 ? rows : undefined;
    });
    expect(granted.map((r) => [r.user_id, r.role]).sort()).toEqual([[ids.fay, 'viewer'], [ids.gus, 'viewer']].sort());
    // The history tab lists it, applied.
    await approverPage.goto(`${stack.url}/approvals?box=history`);
    await expect.poll(() => approverPage.getByRole('row', { name: /Map group Payroll to viewer/ }).textContent(), { timeout: 15_000 }).toContain('Applied');
    await journey.shot(approverPage, '11-history');
  });

  it('(c) Settings › Approval policy: per-kind rules; saving submits an approval_policy.set request (privileged: refused at 0 approvers)', async () => {
    const tenant = await stack.createTenant();
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['admin'] });
    for (const roles of [['admin'], ['approver']] as const) await browserSignIn(await journey.page(), stack, tenant, { roles: [...roles] });
    await page.goto(`${stack.url}/settings`);
    await page.getByRole('link', { name: 'approval policy' }).click();
    await expect.poll(() => heading(page), { timeout: 15_000 }).toBe('Approval policy');
    const revoke = page.getByRole('row', { name: /Revoke a SCIM connection or token/ });
    await expect.poll(() => revoke.textContent(), { timeout: 15_000 }).toContain('privileged');
    expect(await revoke.getByRole('cell').nth(1).textContent()).toBe('2');
    await journey.shot(page, '12-approval-policy');
    await expectAccessible(page, 'approval policy');

    await revoke.getByRole('button', { name: /Edit the rule/ }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByTestId('needs-approval').textContent()).toContain('needs 2 approvals');
    await dialog.getByLabel('Approvers needed').fill('0');
    await dialog.getByRole('button', { name: 'Submit for approval' }).click();
    await expect.poll(() => dialog.locator('.field-error').textContent()).toContain('a privileged change needs at least one approver');
    await dialog.getByLabel('Approvers needed').fill('1');
    await dialog.getByLabel('Reason (shown to approvers)').fill('Small team: one approver is enough');
    await journey.shot(page, '13-approval-policy-edit');
    await dialog.getByRole('button', { name: 'Submit for approval' }).click();
    const id = await requestedId(page);
    expect(await page.getByRole('dialog').count()).toBe(0);
    await journey.shot(page, '14-approval-policy-requested');
    // The rule in force is unchanged until approvers decide.
    expect(await revoke.getByRole('cell').nth(1).textContent()).toBe('2');
    await page.getByTestId('change-requested').getByRole('link', { name: 'Open the request' }).click();
    await expect.poll(() => page.getByTestId('request-facts').textContent(), { timeout: 15_000 }).toContain('Small team: one approver is enough');
    expect(await page.getByTestId('diff').getByRole('row', { name: /scim_connection\.revoke\.approvals/ }).textContent()).toMatch(/2.*1/);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await journey.shot(page, '15-approval-policy-request');

    // Tablet width: the request page stays usable (nothing overflows the page, still accessible).
    await page.setViewportSize({ width: 768, height: 1024 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768);
    await expectAccessible(page, 'request page (tablet)');
    await journey.shot(page, '16-request-page-tablet');
  });
});
