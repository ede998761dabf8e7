import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { browserSignIn } from '../helpers/portal.js';
import { applyAtOnce } from '../helpers/approvals.js';
import { eventually, type TestStack, type TestTenant } from '../helpers/stack.js';
import { download, expectAccessible, type Journey, startJourney } from '../helpers/browser.js';

let stack: TestStack;
let tenant: TestTenant;
let journey: Journey;
const ids: Record<string, string> = {};

beforeAll(async () => {
  journey = await startJourney({ artifacts: 'portal-audit', stack: { worker: true }, context: { viewport: { width: 1280, height: 860 }, acceptDownloads: true } });
  stack = journey.stack;
  tenant = await stack.createTenant();
  // Mapping changes apply at once here (their approval journey is test/e2e/portal-approvals.test.ts).
  await applyAtOnce(stack, tenant.id, ['role_mapping.set', 'default_role.set']);
  for (const name of ['ann', 'bob', 'cat']) {
    ids[name] = (await stack.scim(tenant, 'POST', '/Users', { userName: `${name}@example.com`, displayName: `${name[0]!.toUpperCase()}${name.slice(1)} Example` })).body.id;
  }
  await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ids.ann }, { value: ids.bob }] });
  await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Finance', members: [{ value: ids.cat }] });
});

afterAll(() => journey?.close());

/** user_roles as the movers left them, by first name. */
async function grantedRoles(): Promise<Record<string, string[]>> {
  const rows = await withTenant(stack.owner, tenant.id, (tx) =>
    tx.any(sql.type(z.object({ user_name: z.string(), roles: z.array(z.string()) }))`
      SELECT u.user_name, coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles
        FROM users u LEFT JOIN user_roles r ON r.tenant_id = u.tenant_id AND r.user_id = u.id
       WHERE u.tenant_id = ${tenant.id} GROUP BY u.user_name`),
  );
  return Object.fromEntries(rows.map((r) => [r.user_name.split('@')[0]!, r.roles]));
}

describe('role mappings and the audit log (real browser)', () => {
  it('edits a role mapping with its dry run: the preview lists the right people, and after saving their roles changed', async () => {
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['admin'], email: 'it.admin@example.com' });
    await page.goto(`${stack.url}/role-mappings`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Role mappings');
    await expect.poll(() => page.getByText('No group grants a role yet').isVisible()).toBe(true);
    await expectAccessible(page, 'role mappings (empty)');
    await journey.shot(page, '01-role-mappings-empty');

    // Choose the group, tick a role, preview.
    await page.getByRole('button', { name: 'Map a group' }).first().click();
    await page.getByLabel('Find a group by name').fill('op');
    await page.getByRole('button', { name: /^Ops/ }).click();
    await page.getByRole('checkbox', { name: /^admin/ }).check();
    await page.getByRole('button', { name: 'Preview changes' }).click();
    const preview = page.getByTestId('preview');
    await expect.poll(() => preview.getByTestId('preview-row').count(), { timeout: 15_000 }).toBe(2);
    const rows = await preview.getByTestId('preview-row').allTextContents();
    expect(rows[0]).toMatch(/Ann Example.*ann@example\.com.*\+ admin/);
    expect(rows[1]).toMatch(/Bob Example.*bob@example\.com.*\+ admin/);
    expect(rows.join()).not.toMatch(/Cat/);
    await expectAccessible(page, 'role mapping preview dialog');
    await journey.shot(page, '02-role-mapping-preview');

    // Changing the selection invalidates the preview: Save needs a fresh one.
    await page.getByRole('checkbox', { name: /^member/ }).check();
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: /^member/ }).uncheck();
    await page.getByRole('button', { name: /Preview/ }).click();
    await expect.poll(() => preview.getByTestId('preview-row').count()).toBe(2);
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'roles are being updated' }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByRole('table', { name: 'Groups and the roles they grant' }).textContent()).toMatch(/Ops.*admin.*2/);
    await journey.shot(page, '03-role-mapping-saved');

    // The movers applied exactly the preview: Ann and Bob gained admin; Cat is untouched.
    expect(await eventually(async () => {
      const roles = await grantedRoles();
      return roles.ann!.length && roles.bob!.length ? roles : undefined;
    })).toEqual({ ann: ['admin'], bob: ['admin'], cat: [] });

    // A tablet-sized view of the same page.
    await page.setViewportSize({ width: 768, height: 1024 });
    await journey.shot(page, '04-role-mappings-tablet');
  });

  it('exports the audit log (the files hold the rows) and verifies it; after a link is broken, names the first broken link', async () => {
    const page = await journey.page();
    await browserSignIn(page, stack, tenant, { roles: ['auditor'], email: 'the.auditor@example.com' });
    await page.goto(`${stack.url}/audit`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toBe('Audit log');
    await expect.poll(() => page.getByRole('table', { name: /Audit events/ }).isVisible(), { timeout: 15_000 }).toBe(true);
    await expectAccessible(page, 'audit log');
    await journey.shot(page, '05-audit-log');

    // Filter on the mapping change made in the first journey.
    await page.getByLabel('Action', { exact: true }).fill('role_mapping.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByRole('table', { name: /Audit events/ }).locator('tbody tr').count()).toBe(1);
    expect(await page.getByRole('table', { name: /Audit events/ }).textContent()).toContain('role_mapping.changed');
    // The filters live in the URL: the view can be shared or bookmarked.
    expect(new URL(page.url()).searchParams.get('action')).toBe('role_mapping.*');
    await journey.shot(page, '06-audit-log-filtered');

    const csv = await download(page, 'export-csv');
    expect(csv.name).toMatch(/^audit-log-\d{8}T\d{6}Z\.csv$/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,seq,occurred_at,actor_type,actor_id,action/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(',role_mapping.changed,');

    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => page.getByRole('table', { name: /Audit events/ }).locator('tbody tr').count()).toBeGreaterThan(1);
    const json = await download(page, 'export-json');
    const events = JSON.parse(json.text) as { action: string; seq: number | null }[];
    const total = await withTenant(stack.owner, tenant.id, (tx) => tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${tenant.id}`));
    // Everything written before the export started (the export itself is recorded first, so it is in).
    expect(events.length).toBe(total);
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['user.created', 'role_mapping.changed', 'audit.exported']));

    // Verify: intact.
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect.poll(() => page.getByTestId('verify-result').textContent(), { timeout: 30_000 }).toMatch(/Chain intact/);
    await expectAccessible(page, 'audit log verified');
    await journey.shot(page, '07-audit-verified');

    // Someone with database access alters event #2 behind Roster's back.
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      await tx.query(sql.unsafe`UPDATE audit_events SET data = data || '{"tampered":true}' WHERE tenant_id = ${tenant.id} AND seq = 2`);
      await tx.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    });
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect.poll(() => page.getByTestId('verify-result').textContent(), { timeout: 30_000 }).toMatch(/Chain broken at event #2/);
    const result = await page.getByTestId('verify-result').textContent();
    expect(result).toMatch(/altered after it was sealed/);
    expect(result).toMatch(/Expected hash[0-9a-f]{64}Stored hash[0-9a-f]{64}/);
    await expectAccessible(page, 'audit log broken chain');
    await journey.shot(page, '08-audit-broken-link');

    await page.setViewportSize({ width: 768, height: 1024 });
    await journey.shot(page, '09-audit-tablet');
  });
});
