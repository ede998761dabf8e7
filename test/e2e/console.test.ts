import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join('test-artifacts', 'console');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const OPERATOR_EMAIL = 'ops-e2e@vendor.example';
const OPERATOR_PASSWORD = 'violet-harbour-lantern-42';
const PERSON = 'e2e-hidden-person@customer.example';

let stack: TestStack;
let tenant: TestTenant;
let browser: BrowserContext;
let profile: string;

/** `roster operator create --email … --json`, the way the vendor's staff get their first link. */
function createOperator(email: string): { url: string; expiresAt: string } {
  const out = execFileSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/cli.ts', 'operator', 'create', '--email', email, '--json'], {
    env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
  return JSON.parse(out) as { url: string; expiresAt: string };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: no serious or critical violations. */
async function expectAccessible(page: Page, what: string): Promise<void> {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string | null; nodes: { target: unknown }[] }[] }> } }).axe.run();
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target) }));
  });
  expect(violations, what).toEqual([]);
}

beforeAll(async () => {
  execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'portal/vite.config.ts', '--logLevel', 'error'], { stdio: 'inherit' });
  stack = await startStack();
  tenant = await stack.createTenant();
  expect((await stack.scim(tenant, 'POST', '/Users', { userName: PERSON, emails: [{ value: PERSON }] })).status).toBe(201);
  mkdirSync(SHOTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
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
    const { url } = createOperator(OPERATOR_EMAIL);
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

    // 5. Fleet health.
    await page.getByRole('link', { name: 'Fleet health' }).click();
    await page.getByRole('heading', { level: 1, name: 'Fleet health' }).waitFor();
    await page.getByTestId('fleet-outbox').waitFor();
    await shot(page, '07-fleet');
    await expectAccessible(page, 'fleet health');
    expect(await page.content()).not.toContain(PERSON);

    // 6. The console session opens nothing of the tenant portal.
    const users = await page.request.get(`${stack.url}/portal/api/users`);
    expect(users.status()).toBe(401);
    expect(await users.text()).not.toContain(PERSON);
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
