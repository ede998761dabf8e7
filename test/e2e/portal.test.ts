import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { CHROMIUM_OPTIONS } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePortalBuilt } from '../../scripts/lib/portal-build.js';
import { startStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;
let bare: TestStack;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  // The real build the API serves (portal/dist), made the way npm start makes it (once, when stale).
  ensurePortalBuilt();
  [stack, bare] = await Promise.all([startStack({ worker: true }), startStack()]);
  profile = mkdtempSync(join(tmpdir(), 'roster-chromium-'));
  // A fresh profile per run; the flags keep Chromium off the (closed) network.
  browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM_OPTIONS,
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([stack?.close(), bare?.close()]);
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('portal (real browser)', () => {
  it('shows a ready Roster with each dependency checked, and where its SCIM API is (/status)', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.url}/status`);
    await expect.poll(() => page.getByTestId('readiness').textContent(), { timeout: 15_000 }).toBe('Ready');
    expect(await page.getByTestId('check-database').textContent()).toBe('database: ok');
    expect(await page.getByTestId('check-temporal').textContent()).toBe('temporal: ok');
    expect(await page.getByTestId('scim-base').textContent()).toBe(`${stack.url}/scim/v2`);
    const openapi = await page.request.get(`${stack.url}/openapi.json`);
    expect((await openapi.json()).openapi).toBe('3.0.3');
  });

  it('says "Not ready" when Temporal is unreachable, and deep links still load the portal', async () => {
    const page = await browser.newPage();
    await page.goto(`${bare.url}/status`);
    await expect.poll(() => page.getByTestId('readiness').textContent(), { timeout: 15_000 }).toBe('Not ready');
    expect(await page.getByTestId('check-temporal').textContent()).toBe('temporal: not configured');
    // A deep link into the signed-in portal loads the SPA, which sends a visitor without a session
    // to sign-in and remembers where they were going.
    await page.goto(`${bare.url}/some/portal/route`);
    await page.waitForURL((url) => url.pathname === '/sign-in', { timeout: 15_000 });
    expect(new URL(page.url()).searchParams.get('next')).toBe('/some/portal/route');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    // API paths are never swallowed by the portal's fallback.
    expect((await page.request.get(`${bare.url}/api/v1/nothing-here`)).status()).toBe(401);
  });
});
