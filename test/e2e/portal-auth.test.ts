import { type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP } from 'otpauth';
import { createOperator } from '../../core/portal-auth/operator-service.js';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import { type TestStack, type TestTenant } from '../helpers/stack.js';
import { approveAndWait, setApprovalPolicy } from '../helpers/approvals.js';
import { portalClient } from '../helpers/portal.js';
import { expectAccessible, type Journey, startJourney } from '../helpers/browser.js';
import jsQRModule from 'jsqr';

let stack: TestStack;
let tenant: TestTenant;
let journey: Journey;

const ADMIN_EMAIL = 'first.admin@example.com';
const ADMIN_PASSWORD = 'plum orbit lantern 2047';
const APPROVER_EMAIL = 'approver.person@example.com';
const APPROVER_PASSWORD = 'velvet canyon drumbeat 88';

// jsqr is a UMD bundle whose module.exports is the function itself; its typings describe an ES
// module with a default export, which is what a CommonJS default import sees as `.default`.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

/** Draws the page's QR code SVG onto a canvas (4 px per module) and decodes the pixels with jsQR. */
async function scanQr(page: Page): Promise<string | undefined> {
  const image = await page.getByTestId('qr-code').evaluate(async (svg) => {
    const side = (svg as SVGSVGElement).viewBox.baseVal.width * 4;
    const img = new Image(side, side);
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(svg))}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = side;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0, side, side);
    return { side, pixels: Array.from(ctx.getImageData(0, 0, side, side).data) };
  });
  return jsQR(Uint8ClampedArray.from(image.pixels), image.side, image.side)?.data;
}

beforeAll(async () => {
  // A worker: member role changes are approval requests decided by their workflow.
  journey = await startJourney({ artifacts: 'portal-auth', stack: { worker: true }, context: { viewport: { width: 1280, height: 860 } } });
  stack = journey.stack;
  tenant = await stack.createTenant();
});

afterAll(() => journey?.close());

async function navLabels(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
}

describe('portal sign-in journeys (real browser)', () => {
  it('setup link → password → signed in on the overview; sign out; sign in again; invite an approver who sees only what approvers may', async () => {
    const { url: setupUrl } = await issueSetupLink(stack.app, {
      tenantId: tenant.id,
      email: ADMIN_EMAIL,
      roles: ['admin'],
      createdBy: { type: 'operator', id: 'e2e' },
      publicUrl: stack.url,
    });
    expect(setupUrl).toMatch(/\/setup#token=/);

    // 1. The setup page shows whose account and which tenant, then a password form.
    const page = await journey.page();
    await page.goto(setupUrl);
    await expect.poll(() => page.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(ADMIN_EMAIL);
    expect(await page.getByTestId('setup-tenant').textContent()).toBeTruthy();
    // The token leaves the address bar once read.
    expect(page.url()).not.toContain('token=');
    await expectAccessible(page, 'setup');
    await journey.shot(page, '01-setup');

    // A too-short password is refused at the field, before any request.
    await page.getByLabel('New password').fill('short');
    await page.getByLabel('Repeat the password').fill('short');
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await expect.poll(() => page.locator('.field-error').first().textContent()).toContain('at least 12');
    // The API's own check (a common password) is shown at the field too.
    await page.getByLabel('New password').fill('password1234');
    await page.getByLabel('Repeat the password').fill('password1234');
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await expect.poll(() => page.locator('.field-error, .form-error').first().textContent(), { timeout: 10_000 }).toMatch(/common|guess/i);
    await journey.shot(page, '02-setup-refused');

    await page.getByLabel('New password').fill(ADMIN_PASSWORD);
    await page.getByLabel('Repeat the password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Set password and sign in' }).click();

    // 2. Signed in, on the overview, with the full admin nav.
    await page.waitForURL((u) => u.pathname === '/overview', { timeout: 15_000 });
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
    expect(await navLabels(page)).toEqual(['Overview', 'Connections', 'Directory', 'Role mappings', 'Non-human identities', 'Audit log', 'Settings', 'Members', 'Domains', 'SSO connections', 'Approvals', 'Access reviews']);
    expect(await page.getByTestId('account-link').textContent()).toContain(ADMIN_EMAIL);
    await expectAccessible(page, 'overview frame');
    await journey.shot(page, '03-overview');

    // 3. Sign out → sign-in page; the session is gone for the API too.
    await page.getByTestId('sign-out').click();
    await page.waitForURL((u) => u.pathname === '/sign-in', { timeout: 10_000 });
    expect((await page.request.get(`${stack.url}/portal/api/session`)).status()).toBe(401);
    // The tenant was remembered on this device.
    expect(await page.getByLabel('Organisation').inputValue()).toBe(tenant.slug);
    await expectAccessible(page, 'sign-in');
    await journey.shot(page, '04-signed-out');

    // A wrong password is answered inline, without saying which part was wrong.
    await page.getByLabel('Email').fill(ADMIN_EMAIL);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 10_000 }).toBeTruthy();
    expect(page.url()).toContain('/sign-in');
    await journey.shot(page, '05-sign-in-refused');

    // 4. Sign in with email + password → back on the portal.
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/overview', { timeout: 15_000 });

    // 5. Members: invite an approver; the link is shown once.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Members');
    await expect.poll(() => page.getByRole('table').textContent()).toContain(ADMIN_EMAIL);
    await expectAccessible(page, 'members');
    await journey.shot(page, '06-members');

    await page.getByRole('button', { name: 'Invite a person' }).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Email').fill(APPROVER_EMAIL);
    // Approver is pre-selected; make sure it is the only role.
    expect(await dialog.getByRole('checkbox', { name: /Approver/ }).isChecked()).toBe(true);
    expect(await dialog.getByRole('checkbox', { name: /Admin/ }).isChecked()).toBe(false);
    await expectAccessible(page, 'invite dialog');
    await dialog.getByRole('button', { name: 'Create invitation link' }).click();
    const linkBox = dialog.getByTestId('secret-value');
    await expect.poll(() => linkBox.inputValue(), { timeout: 10_000 }).toMatch(/\/setup#token=/);
    const inviteUrl = await linkBox.inputValue();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => dialog.getByText('Copied to the clipboard').count()).toBe(1);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(inviteUrl);
    await journey.shot(page, '07-invite-link');
    await dialog.getByRole('button', { name: 'Done' }).click();
    // Shown once: opening the dialog again starts a new invitation, no link.
    await page.getByRole('button', { name: 'Invite a person' }).first().click();
    expect(await page.getByRole('dialog').getByTestId('secret-value').count()).toBe(0);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.getByRole('table').textContent()).toContain(APPROVER_EMAIL);
    expect(await page.getByRole('row', { name: new RegExp(APPROVER_EMAIL) }).textContent()).toMatch(/invited/i);

    // 6. The approver opens the link in a fresh browser, sets a password, lands signed in.
    const approver = await journey.page({ viewport: { width: 768, height: 1024 } });
    await approver.goto(inviteUrl);
    await expect.poll(() => approver.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(APPROVER_EMAIL);
    await approver.getByLabel('New password').fill(APPROVER_PASSWORD);
    await approver.getByLabel('Repeat the password').fill(APPROVER_PASSWORD);
    await approver.getByRole('button', { name: 'Set password and sign in' }).click();
    await approver.waitForURL((u) => u.pathname !== '/setup', { timeout: 15_000 });
    await expect.poll(() => approver.getByTestId('account-link').textContent(), { timeout: 10_000 }).toContain(APPROVER_EMAIL);

    // Only what approvers may see: the nav, the pages, and (the real check) the API.
    expect(await navLabels(approver)).toEqual(['Role mappings', 'Domains', 'SSO connections', 'Approvals', 'Access reviews']);
    expect(new URL(approver.url()).pathname).toBe('/role-mappings');
    await journey.shot(approver, '08-approver-tablet');
    await approver.goto(`${stack.url}/members`);
    await expect.poll(() => approver.getByText('Not available for your role').count(), { timeout: 10_000 }).toBe(1);
    const members = await approver.request.get(`${stack.url}/portal/api/members`);
    expect(members.status()).toBe(403);
    expect(await members.json()).toMatchObject({ error: 'forbidden' });
    await journey.shot(approver, '09-approver-members-refused');

    // The admin's members list now shows the approver as active.
    await page.reload();
    await expect.poll(() => page.getByRole('row', { name: new RegExp(APPROVER_EMAIL) }).textContent(), { timeout: 10_000 }).toMatch(/active/i);
  });

  it('account: turn on two-step sign-in (secret as text, recovery codes once), then sign-in asks for a code; end another session', async () => {
    const email = 'totp.person@example.com';
    const password = 'saffron kettle meridian 51';
    const { url } = await issueSetupLink(stack.app, { tenantId: tenant.id, email, roles: ['auditor'], createdBy: { type: 'operator', id: 'e2e' }, publicUrl: stack.url });
    const page = await journey.page();
    await page.goto(url);
    await expect.poll(() => page.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(email);
    await page.getByLabel('New password').fill(password);
    await page.getByLabel('Repeat the password').fill(password);
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await expect.poll(() => page.getByTestId('account-link').textContent(), { timeout: 15_000 }).toContain(email);

    // A second session of the same person (another browser), to end from the account page.
    const other = await journey.page();
    await other.goto(`${stack.url}/sign-in`);
    await other.getByLabel('Organisation').fill(tenant.slug);
    await other.getByLabel('Email').fill(email);
    await other.getByLabel('Password').fill(password);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => other.getByTestId('account-link').textContent(), { timeout: 15_000 }).toContain(email);

    await page.getByTestId('account-link').click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Your account');
    await expect.poll(() => page.getByRole('table', { name: 'Your sessions' }).getByRole('row').count(), { timeout: 10_000 }).toBe(3); // header + 2
    await page.getByRole('button', { name: /^End the session/ }).click();
    await expect.poll(() => page.getByRole('table', { name: 'Your sessions' }).getByRole('row').count(), { timeout: 10_000 }).toBe(2);
    // The other browser is signed out: its next request (opening a page in the running app) gets
    // 401, and the app brings the person to sign-in, saying why and keeping where they were going.
    // (The app may notice first on its own, when it refetches on focus: then it was on the overview.)
    await Promise.race([
      other.getByTestId('account-link').click({ timeout: 15_000 }),
      other.waitForURL((u) => u.pathname === '/sign-in', { timeout: 15_000 }),
    ]).catch(() => {});
    await other.waitForURL((u) => u.pathname === '/sign-in', { timeout: 10_000 });
    expect(['/account', '/overview', null]).toContain(new URL(other.url()).searchParams.get('next'));
    await expect.poll(() => other.getByText('Your session has ended').count(), { timeout: 10_000 }).toBe(1);

    // Two-step sign-in: a QR code of the otpauth URI, and the secret as text for manual entry; a
    // code from it turns it on.
    await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    const uri = (await page.getByTestId('totp-uri').textContent())!.trim();
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    expect(uri).toContain(`secret=${secret}`);
    await page.getByRole('img', { name: /QR code/ }).waitFor({ timeout: 10_000 });
    // What a phone would read: the rendered SVG, rasterised in the page, decoded by jsQR here.
    expect(await scanQr(page)).toBe(uri);
    await expectAccessible(page, 'account (enrolling)');
    await journey.shot(page, '10-totp-enroll');
    const totp = new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' });
    await page.getByLabel('Enter the 6-digit code the app shows').fill(totp.generate());
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.getByTestId('recovery-codes').getByRole('listitem');
    await expect.poll(() => codes.count(), { timeout: 10_000 }).toBe(10);
    const recovery = (await codes.first().textContent())!.trim();
    await journey.shot(page, '11-recovery-codes');
    await page.getByRole('button', { name: 'I have stored them' }).click();
    // Shown once: gone from the page, and the section now says it is on.
    expect(await page.getByTestId('recovery-codes').count()).toBe(0);
    await expect.poll(() => page.getByRole('button', { name: 'Turn off two-step sign-in' }).count()).toBe(1);

    // Sign out; signing in now asks for a code after the password. A recovery code works.
    await page.getByTestId('sign-out').click();
    await page.waitForURL((u) => u.pathname === '/sign-in', { timeout: 10_000 });
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const code = page.getByLabel('Verification code');
    await expect.poll(() => code.count(), { timeout: 10_000 }).toBe(1);
    await expectAccessible(page, 'sign-in code step');
    await journey.shot(page, '12-sign-in-code-step');
    await code.fill('000000');
    await page.getByRole('button', { name: 'Verify and sign in' }).click();
    await expect.poll(() => page.locator('.field-error').first().textContent(), { timeout: 10_000 }).toMatch(/code/i);
    await code.fill(recovery);
    await page.getByRole('button', { name: 'Verify and sign in' }).click();
    await expect.poll(() => page.getByTestId('account-link').textContent(), { timeout: 15_000 }).toContain(email);
    // Auditors start on the overview.
    expect(new URL(page.url()).pathname).toBe('/overview');
  });

  it('operator console: setup link → password → console frame (Tenants, Fleet health); its session is not a portal session; sign out and in again', async () => {
    const email = 'operator.one@vendor.example';
    const password = 'granite willow compass 73';
    const { url } = await createOperator(stack.app, { email, createdBy: 'e2e', publicUrl: stack.url, ttlSeconds: 3600 });
    expect(url).toContain('/console/setup#token=');
    const page = await journey.page();
    await page.goto(url);
    await expect.poll(() => page.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(email);
    await expectAccessible(page, 'console setup');
    await page.getByLabel('New password').fill(password);
    await page.getByLabel('Repeat the password').fill(password);
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/console/tenants', { timeout: 15_000 });
    expect(await page.getByTestId('operator-email').textContent()).toBe(email);
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents()).toEqual(['Tenants', 'Fleet health']);
    await expectAccessible(page, 'console frame');
    await journey.shot(page, '13-console');

    // The console session opens nothing in the tenant portal.
    expect((await page.request.get(`${stack.url}/portal/api/session`)).status()).toBe(401);
    await page.goto(`${stack.url}/directory`);
    await page.waitForURL((u) => u.pathname === '/sign-in', { timeout: 10_000 });

    await page.goto(`${stack.url}/console/fleet`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 10_000 }).toBe('Fleet health');
    await page.getByTestId('sign-out').click();
    await page.waitForURL((u) => u.pathname === '/console/sign-in', { timeout: 10_000 });
    await expectAccessible(page, 'console sign-in');
    await journey.shot(page, '14-console-sign-in');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/console/tenants', { timeout: 15_000 });
  });

  it('members: change roles, the last admin keeps admin (error shown in the dialog), remove a member; keyboard users can skip to the content', async () => {
    const adminEmail = 'solo.admin@example.com';
    const password = 'harbor tulip quantum 64';
    const other = await stack.createTenant();
    // A role grant is privileged: one approver, neither the requester nor the member.
    await setApprovalPolicy(stack, other.id, { 'portal_roles.set': { approvals: 1 } });
    const deputy = await portalClient(stack, other, { roles: ['approver'] });
    const { url } = await issueSetupLink(stack.app, { tenantId: other.id, email: adminEmail, roles: ['admin'], createdBy: { type: 'operator', id: 'e2e' }, publicUrl: stack.url });
    await issueSetupLink(stack.app, { tenantId: other.id, email: 'reviewer.person@example.com', roles: ['reviewer'], createdBy: { type: 'operator', id: 'e2e' }, publicUrl: stack.url });
    const page = await journey.page();
    await page.goto(url);
    await expect.poll(() => page.getByTestId('setup-email').textContent(), { timeout: 15_000 }).toBe(adminEmail);
    await page.getByLabel('New password').fill(password);
    await page.getByLabel('Repeat the password').fill(password);
    await page.getByRole('button', { name: 'Set password and sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/overview', { timeout: 15_000 });

    // Keyboard: on a fresh load the first Tab reaches "Skip to content", which moves focus into the page.
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 10_000 }).toBe('Overview');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');

    await page.goto(`${stack.url}/members`);
    const reviewerRow = page.getByRole('row', { name: /reviewer\.person@example\.com/ });
    await expect.poll(() => reviewerRow.count(), { timeout: 10_000 }).toBe(1);

    // Change the reviewer's roles: add auditor. The dialog says it needs an approver; once sent, the
    // page links to the request, and the roles change when the deputy approves it.
    await page.getByRole('button', { name: 'Change roles of reviewer.person@example.com' }).click();
    await page.getByRole('dialog').getByRole('checkbox', { name: /Auditor/ }).check();
    await expect.poll(() => page.getByRole('dialog').getByTestId('needs-approval').count()).toBe(1);
    await page.getByRole('dialog').getByRole('button', { name: 'Save roles' }).click();
    const requested = page.getByTestId('change-requested');
    await expect.poll(() => requested.count(), { timeout: 10_000 }).toBe(1);
    expect(await page.getByRole('dialog').count()).toBe(0);
    expect(await reviewerRow.textContent()).not.toContain('Auditor');
    const requestId = (await requested.getByRole('link', { name: 'Open the request' }).getAttribute('href'))!.split('/').pop()!;
    expect(await approveAndWait(deputy, requestId)).toMatchObject({ state: 'applied' });
    await page.reload();
    await expect.poll(() => reviewerRow.textContent(), { timeout: 10_000 }).toContain('Reviewer, Auditor');

    // The only admin cannot drop admin: the API's refusal is shown in the dialog.
    await page.getByRole('button', { name: `Change roles of ${adminEmail}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('checkbox', { name: /Admin/ }).uncheck();
    await dialog.getByRole('checkbox', { name: /Auditor/ }).check();
    await dialog.getByRole('button', { name: 'Save roles' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent(), { timeout: 10_000 }).toMatch(/last admin/i);
    await journey.shot(page, '15-last-admin-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // No roles at all is refused before sending (the API's zod schema, used by the form).
    await page.getByRole('button', { name: 'Change roles of reviewer.person@example.com' }).click();
    await dialog.getByRole('checkbox', { name: /Reviewer/ }).uncheck();
    await dialog.getByRole('checkbox', { name: /Auditor/ }).uncheck();
    await dialog.getByRole('button', { name: 'Save roles' }).click();
    await expect.poll(() => dialog.locator('.field-error').textContent()).toMatch(/at least one role/i);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // Remove, after a confirmation.
    await page.getByRole('button', { name: 'Remove reviewer.person@example.com' }).click();
    await expectAccessible(page, 'remove confirmation');
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => reviewerRow.textContent(), { timeout: 10_000 }).toMatch(/disabled/i);
    await journey.shot(page, '16-member-removed');

    // Tablet width: the nav becomes a bar, the table scrolls inside its frame, nothing overflows the page.
    await page.setViewportSize({ width: 768, height: 1024 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768);
    await expectAccessible(page, 'members (tablet)');
    await journey.shot(page, '17-members-tablet');
  });
});
