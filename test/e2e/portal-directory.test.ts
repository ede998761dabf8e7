import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createServiceAccount, introspect, issuePersonalToken, recordOAuthGrant } from '../../core/repositories/credentials.js';
import { ensurePortalBuilt } from '../../scripts/lib/portal-build.js';
import { browserSignIn } from '../helpers/portal.js';
import { USER } from '../helpers/scim.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { CHROMIUM_OPTIONS, expectAccessible } from '../helpers/browser.js';

/**
 * The journey "open a leaver's timeline with its exposure report", in real headless Chromium
 * against the real stack (API, worker, Temporal): a user arrives over SCIM, gets a token and an
 * OAuth grant, is deactivated in the IdP; the leaver sequence revokes everything; an auditor finds
 * the person in the directory and sees the timeline, the live workflow status and the exposure
 * report. Screenshots go to test-artifacts/portal-directory/; axe-core checks every page.
 */

const ARTIFACTS = 'test-artifacts/portal-directory';

let stack: TestStack;
let tenant: TestTenant;
let browser: BrowserContext;
let profile: string;

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ensurePortalBuilt();
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant();
  profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM_OPTIONS,
    viewport: { width: 1280, height: 900 },
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('directory (real browser)', () => {
  it("opens a leaver's timeline with the live workflow status and the exposure report", async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', {
      schemas: [USER],
      userName: 'leona.leaver@example.com',
      displayName: 'Leona Leaver',
      externalId: 'EMP-4711',
      emails: [{ value: 'leona.leaver@example.com', type: 'work', primary: true }],
    });
    expect(created.status).toBe(201);
    const userId = created.body.id as string;
    await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'colin.colleague@example.com', displayName: 'Colin Colleague' });
    const state = () => stack.owner.oneFirst(sql.unsafe`SELECT lifecycle_state FROM users WHERE tenant_id = ${tenant.id} AND id = ${userId}`);
    await eventually(async () => (await state()) === 'active', 30_000);

    const app = { type: 'system' as const, id: 'vendor-app' };
    await withTenant(stack.owner, tenant.id, async (tx) => {
      await issuePersonalToken(tx, tenant.id, { userId, name: 'laptop cli', scopes: ['read', 'write'] }, app);
      await recordOAuthGrant(tx, tenant.id, { userId, clientId: 'figma', clientName: 'Figma', scopes: ['files:read'] }, app);
    });
    const off = await stack.scim(tenant, 'PATCH', `/Users/${userId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(off.status).toBe(200);
    // The leaver sequence revokes what the person owned and records its exposure report.
    await eventually(
      async () => (await stack.owner.maybeOneFirst(sql.unsafe`SELECT live_credentials FROM exposure_reports WHERE tenant_id = ${tenant.id} AND user_id = ${userId}`)) === 0,
      60_000,
    );

    const page = await browser.newPage();
    await browserSignIn(page, stack, tenant, { roles: ['auditor'] });

    await page.goto(`${stack.url}/overview`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByRole('heading', { name: 'Recent lifecycle activity' }).waitFor();
    await expect.poll(() => page.getByRole('link', { name: 'leona.leaver@example.com' }).count()).toBeGreaterThan(0);
    await shot(page, '01-overview');
    await expectAccessible(page, 'overview');

    await page.goto(`${stack.url}/directory`);
    await page.getByRole('heading', { level: 1, name: 'Directory' }).waitFor();
    await page.getByRole('link', { name: 'Colin Colleague' }).waitFor();
    await page.getByLabel('Search users').fill('leona');
    await expect.poll(() => page.getByRole('link', { name: 'Colin Colleague' }).count()).toBe(0);
    await expect.poll(() => page.locator('.pager-where').textContent()).toMatch(/of 1$/);
    await shot(page, '02-directory-search');
    await expectAccessible(page, 'directory');

    await page.getByRole('link', { name: 'Leona Leaver' }).click();
    await page.getByRole('heading', { level: 1, name: 'Leona Leaver' }).waitFor();
    await page.getByText('EMP-4711').waitFor();
    expect(await page.getByText('IdP-managed').count()).toBeGreaterThan(2);
    await shot(page, '03-user-profile');
    await expectAccessible(page, 'user profile');

    await page.getByRole('tab', { name: 'Credentials' }).click();
    await page.getByText('laptop cli').waitFor();
    await shot(page, '04-user-credentials');

    await page.getByRole('tab', { name: 'Timeline' }).click();
    const workflow = page.getByTestId('workflow-status');
    await workflow.waitFor();
    await expect.poll(() => workflow.textContent()).toMatch(/Running/);
    expect(await workflow.textContent()).toMatch(/leaver sequence done/);
    await page.getByRole('heading', { name: 'Exposure report' }).waitFor();
    await page.getByText('Nothing left open').waitFor();
    expect(await page.getByRole('table', { name: 'Everything this person owns' }).getByText('Still open').count()).toBe(0);
    expect(await page.getByRole('table', { name: 'Everything this person owns' }).getByText('Revoked').count()).toBe(2);
    await page.getByRole('table', { name: 'Lifecycle timeline' }).getByText('Created by the IdP').waitFor();
    expect(await page.getByRole('table', { name: 'Lifecycle timeline' }).getByText('Deactivated in the IdP').count()).toBe(1);
    await shot(page, '05-leaver-timeline-exposure');
    await expectAccessible(page, 'leaver timeline');

    await page.goto(`${stack.url}/non-human?tab=tokens`);
    await page.getByRole('heading', { level: 1, name: 'Non-human identities' }).waitFor();
    await page.getByText('No tokens here').waitFor();
    await page.getByLabel('Show').selectOption('all');
    await page.getByText('laptop cli').waitFor();
    await shot(page, '06-non-human-tokens');
    await expectAccessible(page, 'non-human identities');

    // A tablet-sized window keeps the timeline usable.
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.goto(`${stack.url}/directory/users/${userId}?tab=timeline`);
    await page.getByText('Nothing left open').waitFor();
    await shot(page, '07-leaver-timeline-tablet');
  }, 180_000);

  it("lets an admin revoke a token through a confirm dialog and hand a leaver's service account to a new owner", async () => {
    const app = { type: 'system' as const, id: 'vendor-app' };
    const userOf = async (userName: string, displayName: string) => {
      const res = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName, displayName });
      expect(res.status).toBe(201);
      const id = res.body.id as string;
      await eventually(async () => (await stack.owner.oneFirst(sql.unsafe`SELECT lifecycle_state FROM users WHERE tenant_id = ${tenant.id} AND id = ${id}`)) === 'active', 30_000);
      return id;
    };
    const olga = await userOf('olga.owner@example.com', 'Olga Owner');
    const nina = await userOf('nina.new@example.com', 'Nina Newowner');
    const account = await withTenant(stack.owner, tenant.id, (tx) => createServiceAccount(tx, tenant.id, { name: 'nightly-export', ownerUserId: olga }, app));
    const pat = await withTenant(stack.owner, tenant.id, (tx) => issuePersonalToken(tx, tenant.id, { userId: nina, name: 'nina-laptop', scopes: ['read'] }, app));
    // Olga leaves; she has no manager, so the leaver disables her service account and queues it.
    await stack.scim(tenant, 'PATCH', `/Users/${olga}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    await eventually(async () => (await stack.owner.oneFirst(sql.unsafe`SELECT orphaned FROM service_accounts WHERE tenant_id = ${tenant.id} AND id = ${account.id}`)) === true, 60_000);

    const page = await browser.newPage();
    const admin = await browserSignIn(page, stack, tenant, { roles: ['admin'] });

    await page.goto(`${stack.url}/non-human?tab=tokens`);
    await page.getByRole('heading', { level: 1, name: 'Non-human identities' }).waitFor();
    await page.getByRole('button', { name: 'Revoke token nina-laptop' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke token nina-laptop?' });
    await confirm.waitFor();
    await shot(page, '08-revoke-confirm');
    await expectAccessible(page, 'revoke dialog');
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('token nina-laptop revoked').waitFor();
    await expect.poll(() => page.getByRole('button', { name: 'Revoke token nina-laptop' }).count()).toBe(0);
    expect((await withTenant(stack.owner, tenant.id, (tx) => introspect(tx, tenant.id, pat.token))).active).toBe(false);
    const audit = await stack.owner.one(sql.unsafe`SELECT actor_type, actor_id FROM audit_events WHERE tenant_id = ${tenant.id} AND action = 'credential.revoked' AND target_id = ${pat.credential.id}`);
    expect(audit).toEqual({ actor_type: 'user', actor_id: admin.userId });

    await page.getByRole('tab', { name: 'Orphan queue' }).click();
    await page.getByRole('button', { name: 'Reassign nightly-export' }).click();
    const dialog = page.getByRole('dialog', { name: 'New owner for nightly-export' });
    await dialog.getByLabel('Find a person').fill('nina');
    await dialog.getByRole('radio', { name: /Nina Newowner/ }).check();
    await shot(page, '09-reassign-dialog');
    await expectAccessible(page, 'reassign dialog');
    await dialog.getByRole('button', { name: 'Reassign' }).click();
    await page.getByText('The orphan queue is empty').waitFor();
    await shot(page, '10-orphan-queue-empty');
    const owned = await stack.owner.one(sql.unsafe`SELECT owner_user_id, orphaned FROM service_accounts WHERE tenant_id = ${tenant.id} AND id = ${account.id}`);
    expect(owned).toEqual({ owner_user_id: nina, orphaned: false });

    await page.getByRole('tab', { name: 'Service accounts' }).click();
    await page.getByRole('cell', { name: 'nightly-export', exact: true }).waitFor();
    await shot(page, '11-service-accounts');
    await expectAccessible(page, 'service accounts');

    const group = await stack.scim(tenant, 'POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Data Platform',
      members: [{ value: olga }, { value: nina }],
    });
    expect(group.status).toBe(201);
    await page.goto(`${stack.url}/directory/groups`);
    await page.getByRole('link', { name: 'Data Platform' }).click();
    await page.getByRole('heading', { level: 1, name: 'Data Platform' }).waitFor();
    await page.getByRole('link', { name: 'Nina Newowner' }).waitFor();
    expect(await page.getByRole('table', { name: 'Members' }).getByRole('row').count()).toBe(3);
    await shot(page, '12-group');
    await expectAccessible(page, 'group');
  }, 180_000);
  it('pages a long list: the count comes with the first page and stays while paging on', async () => {
    const big = await stack.createTenant();
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT set_config('app.tenant_id', ${big.id}, true)`);
      await tx.query(sql.unsafe`
        INSERT INTO users (tenant_id, user_name, user_name_key, display_name, lifecycle_state, active, created_at)
        SELECT ${big.id}, 'pager' || g || '@example.com', 'pager' || g || '@example.com', 'Pager ' || g, 'active', true, now() - make_interval(secs => 60 - g)
          FROM generate_series(1, 60) g`);
    });
    const page = await browser.newPage();
    await browserSignIn(page, stack, big, { roles: ['auditor'] });
    await page.goto(`${stack.url}/directory`);
    await page.getByRole('link', { name: 'Pager 60', exact: true }).waitFor();
    await expect.poll(() => page.locator('.pager-where').textContent()).toBe('Page 1 · rows 1–25 of 60');
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByRole('link', { name: 'Pager 35', exact: true }).waitFor();
    // The API counts on the first page only; the pager keeps that count.
    await expect.poll(() => page.locator('.pager-where').textContent()).toBe('Page 2 · rows 26–50 of 60');
    await shot(page, '06-directory-page-2');
    await page.close();
  });
});
