import { createHash } from 'node:crypto';
import { type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVIDENCE_COLUMNS } from '../../core/campaigns/schema.js';
import { download, expectAccessible, heading, type Journey, startJourney } from '../helpers/browser.js';
import { campaignTenant, person, rolesOf } from '../helpers/campaigns.js';
import { parseCsv } from '../helpers/csv.js';
import { browserSignIn } from '../helpers/portal.js';
import { eventually, type TestStack } from '../helpers/stack.js';

/**
 * Access reviews in the portal (issue 9), in real Chromium against the real app, worker and
 * Temporal: a security user defines a campaign (a refused cron shown at its field) and launches
 * it; a reviewer (an approver: any portal user reviews what is assigned to them) bulk-keeps after
 * acknowledging access that changed since the snapshot, revokes one item with a reason and meets a
 * refusal for an item moved away meanwhile; the security user follows the progress per reviewer,
 * reassigns, closes the campaign and downloads the evidence, whose rows and digest are checked; an
 * auditor reads it all without the controls. Then a groups scope picked by name, a revoke policy
 * whose 0 % cap holds every unanswered revoke for confirmation, and a fast keeper flagged.
 */
let stack: TestStack;
let journey: Journey;

beforeAll(async () => {
  journey = await startJourney({ artifacts: 'portal-campaigns', stack: { worker: true }, context: { acceptDownloads: true } });
  stack = journey.stack;
});

afterAll(() => journey?.close());

/** The table row of one item ("ana@example.com: member"), found by its checkbox's exact name. */
const rowOf = (page: Page, scope: Locator, label: string) => scope.getByRole('row').filter({ has: page.getByRole('checkbox', { name: `Select ${label}`, exact: true }) });

describe('access reviews in the portal (real browser)', () => {
  it('define and launch; a reviewer bulk-keeps, revokes with a reason, meets a refusal; progress per reviewer, reassign, close, evidence; auditor read-only', async () => {
    const t = await campaignTenant(stack);
    const ana = await person(stack, t, 'ana@example.com');
    const ben = await person(stack, t, 'ben@example.com');
    const cat = await person(stack, t, 'cat@example.com', { admin: true });
    expect(ana && ben && cat).toBeTruthy();
    const fallbackEmail = `fallback-${t.tenant.slug}@example.com`;

    const sec = await journey.page();
    const secUser = await browserSignIn(sec, stack, t.tenant, { roles: ['admin'], email: `sec-${t.tenant.slug}@example.com` });
    const rev = await journey.page();
    const reviewer = await browserSignIn(rev, stack, t.tenant, { roles: ['approver'], email: `rita-${t.tenant.slug}@example.com` });

    // ---- The security user defines the campaign. ----
    await sec.goto(`${stack.url}/access-reviews?tab=definitions`);
    await expect.poll(() => heading(sec), { timeout: 15_000 }).toBe('Access reviews');
    await expect.poll(() => sec.getByText('No campaign is defined yet').count(), { timeout: 15_000 }).toBe(1);
    await sec.getByRole('link', { name: 'New definition' }).click();
    await expect.poll(() => heading(sec), { timeout: 15_000 }).toBe('New campaign definition');
    const form = sec.getByRole('form', { name: 'Campaign definition' });
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Quarterly access review');
    await form.getByRole('checkbox', { name: /^Privileged roles only/ }).uncheck();
    await form.getByRole('checkbox', { name: /^All role grants/ }).check();
    await form.getByRole('radio', { name: /^Named reviewers/ }).check();
    // Nothing chosen as fallback yet: the form says so at the field, before anything is sent.
    await form.getByRole('button', { name: 'Create definition' }).click();
    await expect.poll(() => form.locator('.field-invalid').filter({ hasText: 'Fallback reviewer' }).textContent()).toContain('Choose a fallback reviewer');
    const named = form.getByTestId('named-reviewers');
    await named.getByRole('checkbox', { name: reviewer.email, exact: true }).check({ timeout: 15_000 });
    await form.getByLabel('Fallback reviewer', { exact: true }).selectOption(secUser.userId);
    // A cron expression only the API can refuse (zod sees a string): its answer lands at the field.
    await form.getByLabel('Runs', { exact: true }).selectOption('cron');
    await form.getByLabel('Cron expression', { exact: true }).fill('61 25 * * *');
    await form.getByRole('button', { name: 'Create definition' }).click();
    const cronField = form.locator('.field').filter({ has: sec.getByLabel('Cron expression', { exact: true }) });
    await expect.poll(() => cronField.locator('.field-error').count(), { timeout: 15_000 }).toBe(1);
    await journey.shot(sec, '01-definition-form-refused-cron');
    await expectAccessible(sec, 'definition form');
    await form.getByLabel('Runs', { exact: true }).selectOption('none');
    await form.getByRole('button', { name: 'Create definition' }).click();
    await expect.poll(() => sec.url(), { timeout: 15_000 }).toContain('/access-reviews?tab=definitions');
    const defRow = sec.getByRole('row', { name: /Quarterly access review/ });
    await expect.poll(() => defRow.textContent(), { timeout: 15_000 }).toContain('On demand only');
    expect(await defRow.textContent()).toContain('All role grants');
    await journey.shot(sec, '02-definitions');
    await expectAccessible(sec, 'definitions');

    // Edit it: a monthly schedule; then pause and resume it from the list.
    await defRow.getByRole('link', { name: 'Quarterly access review', exact: true }).click();
    await expect.poll(() => heading(sec), { timeout: 15_000 }).toBe('Quarterly access review');
    const edit = sec.getByRole('form', { name: 'Campaign definition' });
    expect(await edit.getByLabel('Fallback reviewer', { exact: true }).inputValue()).toBe(secUser.userId);
    expect(await edit.getByTestId('named-reviewers').getByRole('checkbox', { name: reviewer.email, exact: true }).isChecked()).toBe(true);
    await edit.getByLabel('Runs', { exact: true }).selectOption('monthly');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => defRow.textContent(), { timeout: 15_000 }).toContain('Monthly: the 1st, 00:00 UTC');
    expect(await defRow.textContent()).toContain('Next run');
    await defRow.getByRole('button', { name: 'Pause Quarterly access review' }).click();
    await expect.poll(() => defRow.textContent(), { timeout: 15_000 }).toContain('Paused');
    await journey.shot(sec, '02b-definition-paused');
    await defRow.getByRole('button', { name: 'Resume Quarterly access review' }).click();
    await expect.poll(() => defRow.textContent(), { timeout: 15_000 }).toContain('Next run');

    // ---- Launch now: the campaign page, open once its items are generated. ----
    await defRow.getByRole('button', { name: 'Launch now: Quarterly access review' }).click();
    await expect.poll(() => sec.url(), { timeout: 15_000 }).toMatch(/\/access-reviews\/campaigns\/[0-9a-f-]{36}\?tab=progress$/);
    const campaignUrl = sec.url();
    const facts = sec.getByTestId('campaign-facts');
    await expect.poll(() => facts.textContent(), { timeout: 30_000 }).toContain('Open');
    await expect.poll(() => sec.getByTestId('campaign-progress').textContent(), { timeout: 15_000 }).toContain('0 of 4 items');
    await journey.shot(sec, '03-campaign-open');
    await expectAccessible(sec, 'campaign progress (open)');

    // A second launch while this run is open is refused, with a link to the run.
    await sec.goto(`${stack.url}/access-reviews?tab=definitions`);
    await defRow.getByRole('button', { name: 'Launch now: Quarterly access review' }).click();
    const refusedLaunch = sec.getByRole('status').filter({ hasText: 'Not launched' });
    await expect.poll(() => refusedLaunch.count(), { timeout: 15_000 }).toBe(1);
    expect(await refusedLaunch.getByRole('link', { name: 'Open the running campaign' }).getAttribute('href')).toBe(new URL(campaignUrl).pathname + '?tab=progress');
    await sec.goto(campaignUrl);

    // Ben's role gains a direct grant after the snapshot: his item is flagged to the reviewer.
    expect((await t.app.call('PUT', `/api/v1/users/${ben}/direct-roles/member`)).status).toBeLessThan(300);

    // ---- The reviewer: My reviews, then the worklist, riskiest first. ----
    await rev.goto(`${stack.url}/access-reviews`);
    await expect.poll(() => heading(rev), { timeout: 15_000 }).toBe('Access reviews');
    await expect.poll(() => rev.getByTestId('reviews-badge').textContent(), { timeout: 15_000 }).toContain('4');
    const mine = rev.getByRole('row', { name: /Quarterly access review/ });
    await expect.poll(() => mine.textContent(), { timeout: 15_000 }).toContain('4');
    await expectAccessible(rev, 'my reviews');
    await journey.shot(rev, '04-my-reviews');
    await mine.getByRole('link', { name: 'Quarterly access review', exact: true }).click();
    await expect.poll(() => heading(rev), { timeout: 15_000 }).toBe('Quarterly access review');
    const worklist = rev.getByTestId('worklist');
    await expect.poll(() => worklist.getByRole('row').count(), { timeout: 15_000 }).toBe(5);
    // Riskiest first: Cat's privileged admin role, granted by the Admins group mapping.
    const firstItem = worklist.getByRole('row').nth(1);
    expect(await firstItem.getByRole('checkbox').getAttribute('aria-label')).toBe('Select cat@example.com: admin');
    expect(await firstItem.textContent()).toContain('Privileged role');
    expect(await firstItem.textContent()).toContain('Group mapping: Admins');
    const benRow = rowOf(rev, worklist, 'ben@example.com: member');
    await expect.poll(() => benRow.textContent(), { timeout: 15_000 }).toContain('Changed since the snapshot');
    // The reasons shown are the snapshot's; the flag says they no longer hold as they are.
    expect(await benRow.textContent()).toContain('Default role of every person');
    // Every column fits a 1280 px window: nothing scrolls sideways.
    expect(await rev.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await journey.shot(rev, '05-worklist');
    await expectAccessible(rev, 'worklist');

    // Tablet width: the worklist stays usable (the table scrolls inside its frame, the page does not).
    await rev.setViewportSize({ width: 768, height: 1024 });
    expect(await rev.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768);
    await expectAccessible(rev, 'worklist (tablet)');
    await journey.shot(rev, '05b-worklist-tablet');
    await rev.setViewportSize({ width: 1280, height: 900 });

    // Select all, then leave Cat's two items out: two selected.
    await worklist.getByRole('checkbox', { name: 'Select every item on this page', exact: true }).check();
    await expect.poll(() => worklist.getByTestId('selected-count').textContent()).toBe('4 selected');
    await worklist.getByRole('checkbox', { name: 'Select cat@example.com: admin', exact: true }).uncheck();
    await worklist.getByRole('checkbox', { name: 'Select cat@example.com: member', exact: true }).uncheck();
    await expect.poll(() => worklist.getByTestId('selected-count').textContent()).toBe('2 selected');
    expect(await worklist.getByRole('checkbox', { name: 'Select every item on this page', exact: true }).evaluate((el) => (el as HTMLInputElement).indeterminate)).toBe(true);
    // Ben's change must be acknowledged before the bulk keep goes out.
    await worklist.getByRole('button', { name: 'Keep selected' }).click();
    await expect.poll(() => worklist.getByTestId('needs-acknowledgement').textContent()).toContain('ben@example.com: member');
    await journey.shot(rev, '06-acknowledge-first');
    await worklist.getByRole('checkbox', { name: 'I have seen the change to ben@example.com: member', exact: true }).check();
    await worklist.getByRole('button', { name: 'Keep selected' }).click();
    const summary = worklist.getByTestId('decision-summary');
    await expect.poll(() => summary.textContent(), { timeout: 15_000 }).toContain('Kept 2 items.');
    await expect.poll(() => worklist.getByRole('row').count(), { timeout: 15_000 }).toBe(3);
    await journey.shot(rev, '07-bulk-kept');

    // Revoke Cat's admin role: a reason is required.
    await worklist.getByRole('button', { name: 'Revoke cat@example.com: admin', exact: true }).click();
    const dialog = rev.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Revoke it' }).click();
    await expect.poll(() => dialog.locator('.field-error').textContent()).toContain('Say why the access goes');
    await dialog.getByRole('textbox', { name: 'Reason', exact: true }).fill('Cat moved to sales and no longer administers the product');
    await expectAccessible(rev, 'revoke dialog');
    await journey.shot(rev, '08-revoke-reason');
    await dialog.getByRole('button', { name: 'Revoke it' }).click();
    await expect.poll(() => summary.textContent(), { timeout: 15_000 }).toContain('Revoked 1 item.');
    // Focus continues from the answer, not from the row that is about to go.
    await expect.poll(() => rev.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('decision-summary');
    expect(await rev.getByRole('dialog').count()).toBe(0);
    await expect.poll(() => worklist.getByRole('row').count(), { timeout: 15_000 }).toBe(2);
    // The revoke went through Cat's lifecycle: the role is gone.
    await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, cat)) === JSON.stringify(['member']), 30_000);

    // ---- The security user: live progress and the per-reviewer breakdown. ----
    await expect.poll(() => sec.getByTestId('campaign-progress').textContent(), { timeout: 20_000 }).toContain('3 of 4 items (2 kept, 1 revoked)');
    const ritaRow = sec.getByTestId('reviewer-breakdown').getByRole('row', { name: new RegExp(reviewer.email.replace(/[.]/g, '\\.')) });
    expect(await ritaRow.textContent()).toContain('3 / 4');
    await journey.shot(sec, '09-progress-per-reviewer');
    await expectAccessible(sec, 'campaign progress');

    // Reassign Cat's remaining item to the other fallback reviewer (All items, selected).
    await sec.getByRole('tab', { name: 'All items' }).click();
    const allItems = sec.getByTestId('all-items');
    await allItems.getByLabel('Status', { exact: true }).selectOption('pending');
    await expect.poll(() => allItems.getByRole('row').count(), { timeout: 15_000 }).toBe(2);
    await allItems.getByRole('checkbox', { name: 'Select cat@example.com: member', exact: true }).check();
    await allItems.getByRole('button', { name: 'Reassign selected…' }).click();
    const reassign = sec.getByRole('dialog');
    await reassign.getByLabel('New reviewer', { exact: true }).selectOption(t.fallback);
    await expectAccessible(sec, 'reassign dialog');
    await reassign.getByRole('button', { name: 'Reassign' }).click();
    await expect.poll(() => sec.getByRole('dialog').count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => rowOf(sec, allItems, 'cat@example.com: member').textContent(), { timeout: 15_000 }).toContain(fallbackEmail.replace(/@.*/, ''));
    await journey.shot(sec, '10-reassigned');

    // The reviewer's page still shows it: deciding it now is refused, and the page says why.
    await worklist.getByRole('button', { name: 'Keep cat@example.com: member', exact: true }).click();
    await expect.poll(() => summary.getAttribute('data-tone'), { timeout: 15_000 }).toBe('warning');
    expect(await worklist.getByTestId('refusals').textContent()).toBe('cat@example.com: member: not decided, it is assigned to someone else now.');
    await journey.shot(rev, '11-refused-not-yours');
    await expect.poll(() => worklist.getByText('Nothing left for you to decide').count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => rev.getByTestId('reviews-badge').count(), { timeout: 15_000 }).toBe(0);

    // ---- Close now; the evidence once closed. ----
    await sec.goto(campaignUrl);
    await sec.getByRole('button', { name: 'Close now' }).click();
    await sec.getByRole('dialog').getByRole('button', { name: 'Close the campaign' }).click();
    await expect.poll(() => facts.textContent(), { timeout: 30_000 }).toContain('Closed');
    await expect.poll(() => sec.getByTestId('evidence-summary').count(), { timeout: 15_000 }).toBe(1);
    expect(await sec.getByTestId('campaign-counts').textContent()).toContain('No response: kept and flagged1');
    await journey.shot(sec, '12-closed-evidence');
    await expectAccessible(sec, 'closed campaign');

    // The campaigns list: closed, with what was decided.
    await sec.goto(`${stack.url}/access-reviews?tab=campaigns`);
    const listed = sec.getByRole('row', { name: /Quarterly access review/ });
    await expect.poll(() => listed.textContent(), { timeout: 15_000 }).toContain('Closed');
    expect(await listed.textContent()).toContain('3 / 4');
    await expectAccessible(sec, 'campaigns list');
    await journey.shot(sec, '12b-campaigns-list');
    await sec.goto(campaignUrl);
    await expect.poll(() => sec.getByTestId('evidence-summary').count(), { timeout: 15_000 }).toBe(1);

    const csv = await download(sec, 'evidence-csv');
    expect(csv.name).toMatch(/\.csv$/);
    const [header, ...lines] = parseCsv(csv.text);
    expect(header).toEqual([...EVIDENCE_COLUMNS]);
    const col = (name: (typeof EVIDENCE_COLUMNS)[number]) => EVIDENCE_COLUMNS.indexOf(name);
    const bySubject = Object.fromEntries(lines.map((l) => [`${l[col('subjectName')]}: ${l[col('access')]}`, l]));
    expect(Object.keys(bySubject).sort()).toEqual(['ana@example.com: member', 'ben@example.com: member', 'cat@example.com: admin', 'cat@example.com: member']);
    for (const kept of ['ana@example.com: member', 'ben@example.com: member']) {
      expect(bySubject[kept]![col('outcome')]).toBe('kept');
      expect(bySubject[kept]![col('decision')]).toBe('keep');
      expect(bySubject[kept]![col('reviewerId')]).toBe(reviewer.userId);
      expect(Number(bySubject[kept]![col('decisionMs')])).toBeGreaterThan(0);
    }
    const revoked = bySubject['cat@example.com: admin']!;
    expect([revoked[col('outcome')], revoked[col('decision')], revoked[col('decisionReason')]]).toEqual(['revoked', 'revoke', 'Cat moved to sales and no longer administers the product']);
    expect(JSON.parse(revoked[col('applied')]!)).toMatchObject({ via: 'identity_stream', userId: cat });
    const unanswered = bySubject['cat@example.com: member']!;
    expect([unanswered[col('outcome')], unanswered[col('reviewerId')]]).toEqual(['no_response_kept', t.fallback]);

    // The JSON evidence hashes to the digest the signed summary shows.
    const json = await download(sec, 'evidence-json');
    const rows = JSON.parse(json.text) as Record<string, unknown>[];
    expect(rows).toHaveLength(4);
    const digest = createHash('sha256').update(rows.map((r) => `${JSON.stringify(r)}\n`).join('')).digest('hex');
    expect(await sec.getByTestId('evidence-digest').textContent()).toBe(digest);

    // ---- An auditor reads the campaign: progress and evidence, no controls. ----
    const aud = await journey.page();
    await browserSignIn(aud, stack, t.tenant, { roles: ['auditor'] });
    await aud.goto(campaignUrl);
    await expect.poll(() => aud.getByTestId('evidence-summary').count(), { timeout: 15_000 }).toBe(1);
    expect(await aud.getByRole('button', { name: 'Close now' }).count()).toBe(0);
    expect(await aud.getByTestId('evidence-csv').count()).toBe(1);
    await aud.getByRole('tab', { name: 'All items' }).click();
    await expect.poll(() => aud.getByTestId('all-items').getByRole('row').count(), { timeout: 15_000 }).toBe(5);
    expect(await aud.getByTestId('all-items').getByRole('checkbox').count()).toBe(0);
    await expectAccessible(aud, 'campaign (auditor)');
    await journey.shot(aud, '13-auditor-all-items');
    await aud.getByRole('link', { name: 'its definition' }).click();
    await expect.poll(() => aud.getByTestId('definition-facts').textContent(), { timeout: 15_000 }).toContain('Reviewed by 1 named reviewer');
    expect(await aud.getByRole('form').count()).toBe(0);
    expect(await aud.getByRole('button', { name: /^Launch now/ }).count()).toBe(0);
    await expectAccessible(aud, 'definition (auditor)');
    await journey.shot(aud, '14-auditor-definition');
  });
  it('a group scope picked by name, no response revoked over a 0 % cap waits for confirmation, a fast keeper is flagged', async () => {
    const t = await campaignTenant(stack);
    const members: string[] = [];
    for (const name of ['pa', 'pb', 'pc', 'pd', 'pe', 'pf', 'pg']) members.push(await person(stack, t, `${name}@example.com`));
    await person(stack, t, 'outsider@example.com');
    expect((await stack.scim(t.tenant, 'POST', '/Groups', { displayName: 'Payroll', members: members.map((value) => ({ value })) })).status).toBe(201);

    const sec = await journey.page();
    const secUser = await browserSignIn(sec, stack, t.tenant, { roles: ['reviewer'], email: `sec-${t.tenant.slug}@example.com` });
    const rev = await journey.page();
    const reviewer = await browserSignIn(rev, stack, t.tenant, { roles: ['approver'], email: `rita-${t.tenant.slug}@example.com` });

    await sec.goto(`${stack.url}/access-reviews/definitions/new`);
    const form = sec.getByRole('form', { name: 'Campaign definition' });
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Payroll access');
    await form.getByRole('checkbox', { name: /^Privileged roles only/ }).uncheck();
    await form.getByRole('checkbox', { name: /^Members of chosen groups/ }).check();
    // No group chosen yet: said at the picker.
    await form.getByRole('button', { name: 'Create definition' }).click();
    await expect.poll(() => form.getByTestId('group-picker').textContent()).toContain('Choose at least one group.');
    await form.getByRole('searchbox', { name: 'Find groups' }).fill('Pay');
    await form.getByTestId('group-picker').getByRole('checkbox', { name: 'Payroll (7 members)', exact: true }).check({ timeout: 15_000 });
    await form.getByRole('radio', { name: /^Named reviewers/ }).check();
    await form.getByTestId('named-reviewers').getByRole('checkbox', { name: reviewer.email, exact: true }).check({ timeout: 15_000 });
    await form.getByLabel('Fallback reviewer', { exact: true }).selectOption(secUser.userId);
    await form.getByRole('checkbox', { name: /^Escalate undecided items/ }).uncheck();
    await form.getByRole('radio', { name: /^Revoked/ }).check();
    await form.getByLabel('Revoke at most (% of all items) without confirmation', { exact: true }).fill('0');
    await form.getByLabel('Flag reviewers faster than (seconds per decision)', { exact: true }).fill('600');
    await form.getByLabel('Runs', { exact: true }).selectOption('none');
    await journey.shot(sec, '20-definition-groups-revoke-policy');
    await expectAccessible(sec, 'definition form (groups, revoke)');
    await form.getByRole('button', { name: 'Create definition' }).click();
    const defRow = sec.getByRole('row', { name: /Payroll access/ });
    await expect.poll(() => defRow.textContent(), { timeout: 15_000 }).toContain('Members of 1 group');
    await defRow.getByRole('button', { name: 'Launch now: Payroll access' }).click();
    await expect.poll(() => sec.getByTestId('campaign-facts').textContent(), { timeout: 30_000 }).toContain('Open');
    const campaignUrl = sec.url();

    // The reviewer keeps five of seven, fast.
    await rev.goto(campaignUrl.replace('?tab=progress', ''));
    const worklist = rev.getByTestId('worklist');
    await expect.poll(() => worklist.getByRole('row').count(), { timeout: 15_000 }).toBe(8);
    expect(await worklist.textContent()).not.toContain('outsider@example.com');
    await worklist.getByRole('checkbox', { name: 'Select every item on this page', exact: true }).check();
    await worklist.getByRole('checkbox', { name: 'Select pf@example.com: member', exact: true }).uncheck();
    await worklist.getByRole('checkbox', { name: 'Select pg@example.com: member', exact: true }).uncheck();
    await worklist.getByRole('button', { name: 'Keep selected' }).click();
    await expect.poll(() => worklist.getByTestId('decision-summary').textContent(), { timeout: 15_000 }).toContain('Kept 5 items.');

    // The security user sees the reviewer flagged, closes, and confirms the held revokes.
    const breakdown = sec.getByTestId('reviewer-breakdown');
    await expect.poll(() => breakdown.textContent(), { timeout: 20_000 }).toContain('Kept all they decided, median under 600 s');
    await journey.shot(sec, '21-rubber-stamp-flag');
    await sec.getByRole('button', { name: 'Close now' }).click();
    await sec.getByRole('dialog').getByRole('button', { name: 'Close the campaign' }).click();
    const held = sec.getByRole('region', { name: 'Revokes waiting for confirmation' });
    await expect.poll(() => held.count(), { timeout: 30_000 }).toBe(1);
    expect(await held.textContent()).toContain('Nobody answered for 2 items');
    await expectAccessible(sec, 'held revokes');
    await journey.shot(sec, '22-held-revokes');
    await held.getByRole('button', { name: 'Confirm the revokes' }).click();
    const confirm = sec.getByRole('dialog');
    await confirm.getByRole('textbox', { name: 'Reason', exact: true }).fill('Payroll access nobody vouched for');
    await confirm.getByRole('button', { name: 'Revoke them' }).click();
    await expect.poll(() => held.count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => sec.getByTestId('campaign-counts').textContent(), { timeout: 15_000 }).toContain('No response: revoked2');
    await expect.poll(() => sec.getByTestId('evidence-summary').textContent(), { timeout: 30_000 }).toContain(reviewer.email);
    await journey.shot(sec, '23-held-revokes-confirmed');
    // Exactly the two unanswered people lost the role.
    const lost = async () => {
      const roles = await Promise.all(members.map((id) => rolesOf(stack, t.tenant.id, id)));
      return roles.filter((r) => r.length === 0).length;
    };
    await eventually(async () => (await lost()) === 2, 30_000);
  });
});
