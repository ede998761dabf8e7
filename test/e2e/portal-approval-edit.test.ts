import { type Page } from 'playwright-core';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { approveAndWait, setApprovalPolicy, waitingRequestOf } from '../helpers/approvals.js';
import { expectAccessible, heading, type Journey, startJourney } from '../helpers/browser.js';
import { browserSignIn } from '../helpers/portal.js';
import { eventually, type TestStack } from '../helpers/stack.js';

/**
 * Editing a change request in the portal (issue 8), in real Chromium against the real app, worker
 * and Temporal: a SCIM token rotation that needs two approvals is approved by A, then the
 * requester edits its overlap (after the JSON editor's inline parse error and the server's 400);
 * A's approval shows as voided, the new diff is on the page, A and B approve the new version and
 * the rotation applies with the edited overlap (the old token stops at once instead of after 60 s).
 * A webhook endpoint's URL and events, a role mapping's roles and the default role are edited in
 * their forms and applied as edited.
 */
let stack: TestStack;
let journey: Journey;

beforeAll(async () => {
  journey = await startJourney({ artifacts: 'portal-approval-edit', stack: { worker: true } });
  stack = journey.stack;
});

afterAll(() => journey?.close());

/** Opens the request page and approves; resolves with the typed outcome the page shows. */
async function approveInBrowser(page: Page, id: string): Promise<string | null> {
  await page.goto(`${stack.url}/approvals/${id}`);
  await expect.poll(() => heading(page), { timeout: 15_000 }).toMatch(/^Rotate the token of SCIM connection/);
  await page.getByRole('button', { name: 'Approve' }).click();
  const outcome = page.getByTestId('decision-outcome');
  await expect.poll(() => outcome.count(), { timeout: 15_000 }).toBe(1);
  return outcome.getAttribute('data-outcome');
}

describe('editing a change request in the portal (real browser)', () => {
  it('voids the earlier approval, shows the new diff, and applies the edited values once both approvers approve the new version', async () => {
    const tenant = await stack.createTenant();
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.rotate': { approvals: 2 } });
    const requester = await journey.page();
    await browserSignIn(requester, stack, tenant, { roles: ['admin'] });
    const pageA = await journey.page();
    const a = await browserSignIn(pageA, stack, tenant, { roles: ['approver'] });
    const pageB = await journey.page();
    await browserSignIn(pageB, stack, tenant, { roles: ['admin'] });

    // The requester asks for a rotation with a 1-minute overlap.
    await requester.goto(`${stack.url}/connections`);
    await expect.poll(() => heading(requester), { timeout: 15_000 }).toBe('Connections');
    await requester.getByRole('button', { name: 'Rotate token' }).click();
    const rotate = requester.getByRole('dialog');
    await expect.poll(() => rotate.getByTestId('needs-approval').textContent()).toContain('needs 2 approvals');
    await rotate.getByLabel('Overlap').selectOption({ label: '1 minute: the IdP already has the new token' });
    await rotate.getByRole('button', { name: 'Issue new token' }).click();
    const banner = requester.getByTestId('change-requested');
    await expect.poll(() => banner.count(), { timeout: 15_000 }).toBe(1);
    const id = (await banner.getByRole('link', { name: 'Open the request' }).getAttribute('href'))!.split('/').pop()!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    // A approves the first version: 1 of 2.
    expect(await approveInBrowser(pageA, id)).toBe('recorded');
    expect(await pageA.getByTestId('approval-count').textContent()).toContain('1 of 2 needed');

    // The requester opens the request and edits it.
    await requester.goto(`${stack.url}/approvals/${id}`);
    await expect.poll(() => requester.getByTestId('approval-count').textContent(), { timeout: 15_000 }).toContain('1 of 2 needed');
    expect(await requester.getByTestId('diff').getByRole('row', { name: /previousTokensStopAfterSeconds/ }).textContent()).toContain('60');
    expect(await requester.getByTestId('edit-count').count()).toBe(0);
    await requester.getByRole('button', { name: 'Edit request' }).click();
    const dialog = requester.getByRole('dialog', { name: 'Edit this request' });
    expect(await dialog.getByTestId('edit-voids').textContent()).toContain('Saving voids the approval given so far');
    const overlap = dialog.getByLabel('Overlap');
    expect(await overlap.inputValue()).toBe('60');
    await journey.shot(requester, '01-edit-dialog-form');
    await expectAccessible(requester, 'edit dialog (form)');

    // The JSON editor: a parse error shows inline (nothing sent); a payload the server refuses shows its 400.
    await dialog.getByRole('button', { name: 'Edit as JSON' }).click();
    const json = dialog.getByLabel('Payload (JSON)');
    const original = JSON.parse(await json.inputValue()) as { connectionId: string; overlapSeconds: number };
    expect(original).toEqual({ connectionId: expect.stringMatching(/^[0-9a-f-]{36}$/), overlapSeconds: 60 });
    const { connectionId } = original;
    await json.fill('{ "overlapSeconds": 0, ');
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();
    await expect.poll(() => dialog.locator('.field-error').textContent()).toContain('Not valid JSON');
    expect(await json.getAttribute('aria-invalid')).toBe('true');
    await journey.shot(requester, '02-edit-dialog-json-parse-error');
    await json.fill(JSON.stringify({ overlapSeconds: 999_999_999 }));
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();
    const refused = dialog.getByTestId('edit-error');
    await expect.poll(() => refused.count(), { timeout: 15_000 }).toBe(1);
    expect(await refused.textContent()).toMatch(/connectionId|overlapSeconds/);
    await journey.shot(requester, '03-edit-dialog-server-400');
    await expectAccessible(requester, 'edit dialog (JSON, server error)');
    // Nothing changed on the server: A's approval still counts.
    expect(await requester.getByTestId('approval-count').textContent()).toContain('1 of 2 needed');

    // Back to the form (the JSON, valid JSON again, carries over), then no overlap, with a reason.
    await json.fill(JSON.stringify({ connectionId, overlapSeconds: 3600 }, null, 2));
    await dialog.getByRole('button', { name: 'Back to the form' }).click();
    expect(await overlap.inputValue()).toBe('3600');
    await overlap.selectOption({ label: 'No overlap: the old one stops when the change applies' });
    await dialog.getByLabel('Why the edit (shown to approvers)').fill('The IdP already has the new token');
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();

    // The page: the edit's outcome, A's approval voided, the new diff and title, 0 of 2.
    const edited = requester.getByTestId('edit-outcome');
    await expect.poll(() => edited.getAttribute('data-outcome'), { timeout: 15_000 }).toBe('edited');
    expect(await edited.textContent()).toContain('The approval given so far was voided');
    expect(await requester.getByRole('dialog').count()).toBe(0);
    await expect.poll(() => requester.getByTestId('approval-count').textContent(), { timeout: 15_000 }).toContain('0 of 2 needed');
    await expect.poll(() => heading(requester)).toContain('keep working 0 s');
    const stopAfter = requester.getByTestId('diff').getByRole('row', { name: /previousTokensStopAfterSeconds/ });
    expect(await stopAfter.getByRole('cell').nth(2).textContent()).toBe('0');
    const voided = requester.getByTestId('decisions').locator('li[data-valid="false"]');
    expect(await voided.count()).toBe(1);
    expect(await voided.textContent()).toContain('Voided by edit');
    expect(await voided.locator('.decision-voided').evaluate((el) => getComputedStyle(el).textDecorationLine)).toBe('line-through');
    expect(await requester.getByTestId('edit-count').textContent()).toContain('Edited once');
    await journey.shot(requester, '04-request-edited');
    await expectAccessible(requester, 'request page after the edit');

    // A's approval of the old version is void in the record too.
    const decisions = await stack.owner.any(sql.type(z.object({ user_id: z.string(), valid: z.boolean() }))`
      SELECT user_id::text, valid FROM change_request_decisions WHERE request_id = ${id}`);
    expect(decisions).toEqual([{ user_id: a.userId, valid: false }]);

    // A (again) and B approve the new version; it applies.
    expect(await approveInBrowser(pageA, id)).toBe('recorded');
    expect(await pageA.getByTestId('decisions').textContent()).toContain('Voided by edit');
    expect(await approveInBrowser(pageB, id)).toBe('approved');
    await expect.poll(() => pageB.getByTestId('request-facts').textContent(), { timeout: 30_000 }).toContain('Applied');
    await journey.shot(pageB, '05-edited-request-applied');

    // Applied with the edited overlap: the old token stops now (with the original 60 s it would keep working).
    const applied = await stack.owner.one(sql.type(z.object({ payload: z.unknown(), state: z.string() }))`SELECT payload, state FROM change_requests WHERE id = ${id}`);
    expect(applied).toEqual({ payload: { connectionId, overlapSeconds: 0 }, state: 'applied' });
    await eventually(async () => (await stack.scim(tenant.token, 'GET', '/Users')).status === 401, 15_000, 500);
    const audit = await stack.owner.one(sql.type(z.object({ data: z.record(z.unknown()) }))`
      SELECT data FROM audit_events WHERE tenant_id = ${tenant.id} AND target_id = ${id} AND action = 'approval.edited'`);
    expect(audit.data).toMatchObject({ approvalsVoided: 1, reason: 'The IdP already has the new token' });
  });

  it('webhook endpoint: the URL and events edited in the form (checked before sending) are what gets created', async () => {
    const tenant = await stack.createTenant();
    const requesterPage = await journey.page();
    const requester = await browserSignIn(requesterPage, stack, tenant, { roles: ['admin'] });
    const approver = await browserSignIn(await journey.page(), stack, tenant, { roles: ['approver'] });
    const submitted = waitingRequestOf(await requester.request('POST', '/approvals', { kind: 'webhook.create', payload: { url: 'http://127.0.0.1:9/first', eventTypes: ['user.deleted'] } }));

    await requesterPage.goto(`${stack.url}/approvals/${submitted.id}`);
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toBe('Send user.deleted event to http://127.0.0.1:9');
    await requesterPage.getByRole('button', { name: 'Edit request' }).click();
    const dialog = requesterPage.getByRole('dialog', { name: 'Edit this request' });
    expect(await dialog.getByTestId('edit-voids').textContent()).toContain('The approvers decide the new version');
    const url = dialog.getByLabel('Endpoint URL');
    expect(await url.inputValue()).toBe('http://127.0.0.1:9/first');
    expect(await dialog.getByRole('checkbox', { name: 'user.deleted' }).isChecked()).toBe(true);
    // Checked before sending: no URL, no request.
    await url.fill('');
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();
    await expect.poll(() => url.getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.locator('.field-error').textContent()).toContain('Enter the full URL');
    await url.fill('http://127.0.0.1:9/edited');
    await dialog.getByRole('checkbox', { name: 'user.provisioned' }).check();
    await journey.shot(requesterPage, '06-edit-webhook-form');
    await expectAccessible(requesterPage, 'edit dialog (webhook form)');
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();

    await expect.poll(() => requesterPage.getByTestId('edit-outcome').getAttribute('data-outcome'), { timeout: 15_000 }).toBe('edited');
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toBe('Send user.deleted, user.provisioned event to http://127.0.0.1:9');
    const diff = requesterPage.getByTestId('diff');
    expect(await diff.getByRole('row', { name: /created\.url/ }).textContent()).toContain('http://127.0.0.1:9/edited');
    expect(await diff.getByRole('row', { name: /created\.eventTypes/ }).textContent()).toContain('user.deleted, user.provisioned');
    await journey.shot(requesterPage, '07-webhook-request-edited');

    expect(await approveAndWait(approver, submitted.id)).toMatchObject({ state: 'applied', version: 2, payload: { url: 'http://127.0.0.1:9/edited', eventTypes: ['user.deleted', 'user.provisioned'] } });
    const endpoints = await stack.owner.any(sql.type(z.object({ url: z.string(), event_types: z.array(z.string()).nullable() }))`
      SELECT url, event_types FROM webhook_endpoints WHERE tenant_id = ${tenant.id}`);
    expect(endpoints).toEqual([{ url: 'http://127.0.0.1:9/edited', event_types: ['user.deleted', 'user.provisioned'] }]);
  });

  it('role mapping and default role: the roles picked from the catalogue in the form are what applies', async () => {
    const tenant = await stack.createTenant();
    const fay = (await stack.scim(tenant, 'POST', '/Users', { userName: 'fay@example.com', displayName: 'FAY' })).body.id as string;
    const group = (await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Payroll', members: [{ value: fay }] })).body.id as string;
    const requesterPage = await journey.page();
    const requester = await browserSignIn(requesterPage, stack, tenant, { roles: ['admin'] });
    const approver = await browserSignIn(await journey.page(), stack, tenant, { roles: ['approver'] });
    const mapping = waitingRequestOf(await requester.request('POST', '/approvals', { kind: 'role_mapping.set', payload: { groupId: group, roles: ['viewer'] } }));

    await requesterPage.goto(`${stack.url}/approvals/${mapping.id}`);
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toMatch(/^Map group Payroll to viewer/);
    await requesterPage.getByRole('button', { name: 'Edit request' }).click();
    const dialog = requesterPage.getByRole('dialog', { name: 'Edit this request' });
    const viewer = dialog.getByRole('checkbox', { name: /^viewer/ });
    await expect.poll(() => viewer.count(), { timeout: 15_000 }).toBe(1);
    expect(await viewer.isChecked()).toBe(true);
    await viewer.uncheck();
    await dialog.getByRole('checkbox', { name: /^member/ }).check();
    await journey.shot(requesterPage, '08-edit-role-mapping-form');
    await expectAccessible(requesterPage, 'edit dialog (role mapping form)');
    await dialog.getByRole('button', { name: 'Save and ask again' }).click();
    await expect.poll(() => requesterPage.getByTestId('edit-outcome').getAttribute('data-outcome'), { timeout: 15_000 }).toBe('edited');
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toMatch(/^Map group Payroll to member/);
    // The dry run is redone for the new version.
    await expect.poll(() => requesterPage.getByTestId('effects').getByRole('row', { name: /FAY/ }).textContent(), { timeout: 15_000 }).toContain('+ member');
    expect(await requesterPage.getByTestId('effects').textContent()).not.toContain('viewer');
    expect(await approveAndWait(approver, mapping.id)).toMatchObject({ state: 'applied', payload: { groupId: group, roles: ['member'] } });
    const mapped = await stack.owner.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM role_mappings WHERE tenant_id = ${tenant.id} AND group_id = ${group}`);
    expect(mapped).toEqual(['member']);

    // Requested once the mapping's grant landed: a default role's dry run taken before it would be stale (applying would fail).
    await eventually(async () =>
      (await withTenant(stack.owner, tenant.id, (tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM user_roles WHERE tenant_id = ${tenant.id} AND user_id = ${fay}`))).includes('member'),
    );
    const defaultRole = waitingRequestOf(await requester.request('POST', '/approvals', { kind: 'default_role.set', payload: { role: 'viewer' } }));

    await requesterPage.goto(`${stack.url}/approvals/${defaultRole.id}`);
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toMatch(/^Set the default role to viewer/);
    await requesterPage.getByRole('button', { name: 'Edit request' }).click();
    const roleSelect = requesterPage.getByRole('dialog', { name: 'Edit this request' }).getByLabel('Default role');
    await expect.poll(() => roleSelect.inputValue(), { timeout: 15_000 }).toBe('viewer');
    await roleSelect.selectOption('member');
    await requesterPage.getByRole('dialog').getByRole('button', { name: 'Save and ask again' }).click();
    await expect.poll(() => heading(requesterPage), { timeout: 15_000 }).toMatch(/^Set the default role to member/);
    await journey.shot(requesterPage, '09-default-role-edited');

    expect(await approveAndWait(approver, defaultRole.id)).toMatchObject({ state: 'applied', payload: { role: 'member' } });
    const overview = await requester.request('GET', '/role-mappings');
    expect(overview.body.defaultRole).toBe('member');
  });
});
