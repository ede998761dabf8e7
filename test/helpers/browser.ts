import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { ensurePortalBuilt } from '../../scripts/lib/portal-build.js';
import { startStack, type StackOptions, type TestStack } from './stack.js';

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core in the page and fails with the rule ids, impact and targets of every serious or
 * critical violation (the portal's accessibility bar; minor ones are reviewed by hand).
 */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  await page.addScriptTag({ path: AXE_PATH });
  const violations = await page.evaluate(async () => {
    type Result = { violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] };
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<Result> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `${label}: ${JSON.stringify(serious, null, 1)}`).toEqual([]);
}

/** The one Chromium the browser tests drive: the system's (apt), headless, with a fresh profile per launch. */
export const CHROMIUM_OPTIONS = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
};

export async function launchChromium(): Promise<Browser> {
  return chromium.launch(CHROMIUM_OPTIONS);
}

export interface JourneyOptions {
  /** The folder under test-artifacts/ the screenshots go to. */
  artifacts: string;
  stack?: StackOptions;
  /** Every page's context starts from these (viewport 1280 × 900 unless said). */
  context?: BrowserContextOptions;
  /** Grant each context clipboard read and write on the app's origin (copy buttons under test). */
  clipboard?: boolean;
}

/** A browser test's stack (app, worker, Temporal), its Chromium and its screenshots folder. */
export interface Journey {
  stack: TestStack;
  browser: Browser;
  /** A page in a context of its own (its own cookies: one signed-in person), closed with the journey. */
  page(context?: BrowserContextOptions): Promise<Page>;
  /** A full-page screenshot, `<artifacts>/<name>.png`. */
  shot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The one way a portal journey starts: the portal build the API serves (made when stale, one
 * process at a time), the screenshots folder, the stack and Chromium. Call it in beforeAll and
 * `journey?.close()` in afterAll.
 */
export async function startJourney(options: JourneyOptions): Promise<Journey> {
  ensurePortalBuilt();
  const artifacts = join('test-artifacts', options.artifacts);
  mkdirSync(artifacts, { recursive: true });
  const stack = await startStack(options.stack);
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (error) {
    await stack.close();
    throw error;
  }
  const contexts: BrowserContext[] = [];
  return {
    stack,
    browser,
    async page(context = {}) {
      const created = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options.context, ...context });
      contexts.push(created);
      if (options.clipboard) await created.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
      return created.newPage();
    },
    async shot(page, name) {
      await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
      await stack.close();
    },
  };
}

/** The text of the page's h1 (what the tests poll to know which page they are on). */
export const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

/** Clicks the download link `testId` and reads the file it saves. */
export async function download(page: Page, testId: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  return { name: file.suggestedFilename(), text: readFileSync(await file.path(), 'utf8') };
}
