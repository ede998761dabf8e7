import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserConsoleSignIn, browserSignIn } from '../helpers/portal.js';
import { startStack, type TestStack } from '../helpers/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let stack: TestStack;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  stack = await startStack();
  profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('browser sessions (the helpers browser tests build on)', () => {
  it('browserSignIn gives the browser a portal session; the cookie stays on /portal/api', async () => {
    const tenant = await stack.createTenant();
    const page = await browser.newPage();
    const person = await browserSignIn(page, stack, tenant, { roles: ['reviewer'] });
    const session = await page.goto(`${stack.url}/portal/api/session`);
    expect(session?.status()).toBe(200);
    expect((await session!.json()).user).toMatchObject({ email: person.email, roles: ['reviewer'], tenant: { slug: tenant.slug } });
    const cookies = await browser.cookies(`${stack.url}/portal/api/session`);
    const portalCookie = cookies.find((c) => c.name === 'roster_portal')!;
    expect(portalCookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/portal/api' });
    // Not sent to the console's API.
    expect((await page.goto(`${stack.url}/console/api/session`))?.status()).toBe(401);
    await page.close();
  });

  it('browserConsoleSignIn gives the browser a console session', async () => {
    const page = await browser.newPage();
    const op = await browserConsoleSignIn(page, stack);
    const res = await page.goto(`${stack.url}/console/api/session`);
    expect(res?.status()).toBe(200);
    expect((await res!.json()).operator.email).toBe(op.email);
    await page.close();
  });
});
