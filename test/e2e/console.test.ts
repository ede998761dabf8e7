import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePortalBuilt } from '../../scripts/lib/portal-build.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { CHROMIUM_OPTIONS, expectAccessible } from '../helpers/browser.js';

const SHOTS = join('test-artifacts', 'console');
const OPERATOR_EMAIL = 'ops-e2e@vendor.example';
const OPERATOR_PASSWORD = 'violet-harbour-lantern-42';
const PERSON = 'e2e-hidden-person@customer.example';

let stack: TestStack;
let tenant: TestTenant;
let browser: BrowserContext;
let profile: string;
let personId: string;

/** `roster operator create --email … --json`: how the vendor's staff get their first link. */
function createOperatorWithCli(email: string): { url: string; expiresAt: string } {
  const out = execFileSync(process.execPath, ['scripts/roster.mjs', 'operator', 'create', '--email', email, '--json'], {
    env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
  return JSON.parse(out) as { url: string; expiresAt: string };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: no serious or critical violations. */
beforeAll(async () => {
  ensurePortalBuilt();
  stack = await startStack();
  tenant = await stack.createTenant();
  const person = await stack.scim(tenant, 'POST', '/Users', { userName: PERSON, emails: [{ value: PERSON }] });
  expect(person.status).toBe(201);
  personId = person.body.id;
  mkdirSync(SHOTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM_OPTIONS,
    viewport: { width: 1280, height: 860 },
  });
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('operator console (real browser)', () => {
  it('an operator sets a password, signs in, creates a tenant, issues a setup link once, and cannot open the tenant directory', async () => {
    const page = await browser.newPage();

    // 1. The setup link from `roster operator create`: choose a password.
    const { url } = createOperatorWithCli(OPERATOR_EMAIL);
    expect(url).toMatch(new RegExp(`^${stack.url}/console/setup#token=`));
    await page.goto(url);
    await expect.poll(() => page.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(OPERATOR_EMAIL);
    await page.getByLabel('New password').fill(OPERATOR_PASSWORD);
    await page.getByLabel('Repeat the password').fill(OPERATOR_PASSWORD);
    await shot(page, '01-setup');
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();

    // 2. Sign out, then sign in at /console with the new password.
    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/console\/sign-in/);
    await page.goto(`${stack.url}/console`);
    await page.waitForURL(/\/console\/sign-in/);
    await page.getByLabel('Email').fill(OPERATOR_EMAIL);
    await page.getByLabel('Password').fill(OPERATOR_PASSWORD);
    await shot(page, '02-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
    await page.getByRole('link', { name: tenant.slug }).or(page.getByText(tenant.slug)).first().waitFor();
    await shot(page, '03-tenants');
    await expectAccessible(page, 'tenants list');

    // 3. Create a tenant: the slug follows the name, an invalid slug is explained at the field.
    await page.getByRole('button', { name: 'Create tenant' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Create a tenant' });
    await dialog.getByLabel('Customer name').fill('Initech Ltd');
    expect(await dialog.getByLabel('Slug').inputValue()).toBe('initech-ltd');
    await dialog.getByLabel('Slug').fill('Initech Ltd!');
    await dialog.getByRole('button', { name: 'Create tenant' }).click();
    await dialog.getByText('use 1–63 lower-case letters').waitFor();
    await shot(page, '04-create-invalid-slug');
    await expectAccessible(page, 'create tenant dialog with an error');
    await dialog.getByLabel('Slug').fill('initech');
    await dialog.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('heading', { level: 1, name: 'Initech Ltd' }).waitFor();
    await page.getByText('No SCIM connections yet').waitFor();
    await shot(page, '05-tenant-detail');
    await expectAccessible(page, 'tenant detail');
    await page.getByText('No parked streams').waitFor();

    // 4. Issue the first admin's setup link: shown once, copied with the button.
    await page.getByLabel('E-mail of the person').fill('first-admin@initech.example');
    await page.getByRole('button', { name: 'Issue setup link' }).click();
    const secret = page.getByTestId('secret-value');
    await secret.waitFor();
    const link = await secret.inputValue();
    expect(link).toMatch(new RegExp(`^${stack.url}/setup#token=`));
    await page.getByTestId('setup-link-issued').getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    await shot(page, '06-setup-link-once');
    await expectAccessible(page, 'setup link shown once');
    // Shown once: after a reload the page offers a new link, not the old one.
    await page.reload();
    await page.getByRole('button', { name: 'Issue setup link' }).waitFor();
    expect(await page.getByTestId('secret-value').count()).toBe(0);
    expect(await page.content()).not.toContain(link);

    // 5. Fleet health. No worker runs here: the person's first event has waited an hour (the
    // relay lags, the identity is stuck), and the guard holds them.
    await stack.owner.query(sql.unsafe`UPDATE outbox SET created_at = now() - interval '1 hour' WHERE tenant_id = ${tenant.id}`);
    await stack.owner.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${tenant.id}, ${personId})`);
    await page.getByRole('link', { name: 'Fleet health' }).click();
    await page.getByRole('heading', { level: 1, name: 'Fleet health' }).waitFor();
    await page.getByTestId('fleet-outbox').getByText('Lagging').waitFor();
    const stuckTable = page.getByRole('table', { name: 'Identities whose workflow is stuck' });
    await stuckTable.getByText(personId).waitFor();
    await page.getByRole('table', { name: 'Leavers held by the mass-deprovisioning guard' }).getByText(personId).waitFor();
    await shot(page, '07-fleet');
    await expectAccessible(page, 'fleet health');
    expect(await page.content()).not.toContain(PERSON);

    // 5b. A parked stream in the tenant's detail: ids and types, Retry and Skip; never the person.
    await stack.owner.query(sql.unsafe`
      INSERT INTO tenant_alerts (tenant_id, kind, data) VALUES (${tenant.id}, 'stream_parked',
        ${sql.jsonb({ userId: personId, seq: 2, eventType: 'user.teleported', failureType: 'EventInvalid', message: `no such event for ${PERSON}`, attempts: 1 })})`);
    await page.goto(`${stack.url}/console/tenants/${tenant.id}`);
    const parked = page.getByRole('table', { name: 'Parked identity streams' });
    await parked.getByText(personId).waitFor();
    await parked.getByText('EventInvalid').waitFor();
    await parked.getByRole('button', { name: `Skip the parked event of ${personId}` }).click();
    await page.getByRole('dialog').getByLabel('Reason').waitFor();
    await shot(page, '07b-parked-stream-skip');
    await expectAccessible(page, 'parked stream skip dialog');
    await page.keyboard.press('Escape');
    expect(await page.content()).not.toContain(PERSON);

    // 6. The console session opens nothing of the tenant portal.
    for (const path of ['/session', '/members', '/users']) {
      const res = await page.request.get(`${stack.url}/portal/api${path}`);
      expect(await res.text()).not.toContain(PERSON);
      // /users answers once the directory feature is mounted; until then it is no route at all.
      if (path !== '/users' || res.status() !== 404) expect(res.status(), path).toBe(401);
    }
    await page.goto(`${stack.url}/directory`);
    await page.waitForURL(/\/sign-in/);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    expect(await page.content()).not.toContain(PERSON);
    await shot(page, '08-directory-is-sign-in');

    // 7. Tablet width: the tenants page still works.
    await page.setViewportSize({ width: 820, height: 1100 });
    await page.goto(`${stack.url}/console/tenants`);
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
    await page.getByRole('link', { name: 'Initech Ltd' }).waitFor();
    await shot(page, '09-tenants-tablet');
    await page.close();
  }, 180_000);
});
