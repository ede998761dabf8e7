import type { Client } from '@temporalio/client';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDomainVerification } from '../../activities/domains.js';
import { withTenant } from '../../core/db/pool.js';
import { claimDomain } from '../../core/domains/service.js';
import type { DomainView } from '../../core/domains/schema.js';
import { createSsoConnection } from '../../core/sso/service.js';
import { createWebhookTargetPolicy } from '../../core/net/webhook-target.js';
import { domainWorkflowId, fleetSweepScheduleId } from '../../workflows/ids.js';
import type { FleetSweepResult } from '../../workflows/messages.js';
import { ensureFleetSweepSchedule } from '../../worker/fleet-sweep-schedule.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const Audit = z.object({ action: z.string(), target_id: z.string().nullable() });
const Alert = z.object({ kind: z.string(), data: z.record(z.unknown()), resolved_at: z.string().nullable() });
const DomainState = z.object({ state: z.string(), missed_checks: z.number(), last_checked_at: z.string().nullable() });

describe('domain verification and the fleet sweep (real Temporal, loopback DNS)', () => {
  const dns = new TestDnsServer();
  let stack: TestStack;
  let client: Client;
  let tenant: TestTenant;

  beforeAll(async () => {
    await dns.start();
    stack = await startStack({ worker: true, env: { DNS_RESOLVER: dns.address } });
    client = stack.client!;
    tenant = await stack.createTenant();
  });
  afterAll(async () => {
    await stack?.close();
    await dns.close();
  });

  const claim = (name: string, t = tenant): Promise<DomainView> => withTenant(stack.app, t.id, (tx) => claimDomain(tx, { tenantId: t.id, actor: { type: 'user', id: 'test-admin' } }, { name }));
  const domainRow = (t: TestTenant, id: string) => stack.owner.one(sql.type(DomainState)`SELECT state, missed_checks, last_checked_at FROM domains WHERE tenant_id = ${t.id} AND id = ${id}`);
  const audits = (t: TestTenant, id: string) => stack.owner.any(sql.type(Audit)`SELECT action, target_id FROM audit_events WHERE tenant_id = ${t.id} AND target_id = ${id} ORDER BY id`);
  const alerts = (t: TestTenant, kind: string) => stack.owner.any(sql.type(Alert)`SELECT kind, data, resolved_at FROM tenant_alerts WHERE tenant_id = ${t.id} AND kind = ${kind} ORDER BY id`);
  const verify = (t: TestTenant, domainId: string) =>
    startDomainVerification(client, stack.taskQueue, { tenantId: t.id, domainId, initialDelayMs: 100, maxDelayMs: 300 });
  const sweep = (id: string) => client.workflow.execute('fleetSweep', { workflowId: `sweep-test/${stack.taskQueue}/${id}`, taskQueue: stack.taskQueue, args: [{ batchSize: 2 }] }) as Promise<FleetSweepResult>;

  let verified: DomainView;

  it('verifies a claim once its TXT record appears, with an audit row and a domain.verified event', async () => {
    verified = await claim('Example-Corp.test');
    expect(verified).toMatchObject({ name: 'example-corp.test', state: 'pending', challenge: { type: 'TXT', name: '_roster-challenge.example-corp.test' } });
    expect(verified.challenge.value).toMatch(/^roster-verification=[A-Za-z0-9_-]{32}$/);
    await verify(tenant, verified.id);
    // Looked up (and not found) before the record exists.
    await eventually(async () => (await domainRow(tenant, verified.id)).last_checked_at);
    expect((await domainRow(tenant, verified.id)).state).toBe('pending');
    dns.txt.set(verified.challenge.name, ['v=spf1 -all', verified.challenge.value]);
    const result = await client.workflow.getHandle(domainWorkflowId(tenant.id, verified.id)).result();
    expect(result.outcome).toBe('verified');
    expect(result.lookups).toBeGreaterThanOrEqual(2);
    expect((await domainRow(tenant, verified.id)).state).toBe('verified');
    expect((await audits(tenant, verified.id)).map((a) => a.action)).toEqual(['domain.claimed', 'domain.verified']);
    const events = await stack.owner.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM events WHERE tenant_id = ${tenant.id} AND subject_id = ${verified.id}`);
    expect(events).toEqual(['domain.verified']);
    await maybeRecordHistory(client, domainWorkflowId(tenant.id, verified.id), 'domain-verification');
  });

  it('expires a claim whose record never appears before the challenge ends', async () => {
    const d = await claim('never-published.test');
    await stack.owner.query(sql.unsafe`UPDATE domains SET expires_at = now() + interval '1 second' WHERE id = ${d.id}`);
    await verify(tenant, d.id);
    const result = await client.workflow.getHandle(domainWorkflowId(tenant.id, d.id)).result();
    expect(result.outcome).toBe('expired');
    expect((await domainRow(tenant, d.id)).state).toBe('expired');
    expect((await audits(tenant, d.id)).map((a) => a.action)).toEqual(['domain.claimed', 'domain.challenge_expired']);
  });

  it('refuses a name another tenant has verified; the claim stays pending', async () => {
    const other = await stack.createTenant();
    const d = await claim('example-corp.test', other);
    await stack.owner.query(sql.unsafe`UPDATE domains SET expires_at = now() + interval '2 seconds' WHERE id = ${d.id}`);
    dns.txt.set(d.challenge.name, [verified.challenge.value, d.challenge.value]);
    await verify(other, d.id);
    const result = await client.workflow.getHandle(domainWorkflowId(other.id, d.id)).result();
    expect(result.outcome).toBe('expired');
    const actions = (await audits(other, d.id)).map((a) => a.action);
    expect(actions).toContain('domain.verification_refused');
    expect(actions).not.toContain('domain.verified');
    dns.txt.set(verified.challenge.name, [verified.challenge.value]);
  });

  it('the sweep raises an alert when a verified record disappears, unverifies only after the grace, and restores it', async () => {
    // A failed lookup (SERVFAIL) says nothing about the record: no miss counted.
    dns.failing.add(verified.challenge.name);
    await sweep('servfail');
    expect(await domainRow(tenant, verified.id)).toMatchObject({ state: 'verified', missed_checks: 0 });
    dns.failing.delete(verified.challenge.name);

    dns.txt.delete(verified.challenge.name);
    const first = await sweep('miss-1');
    expect(first.domainAlerts).toBe(1);
    expect(await domainRow(tenant, verified.id)).toMatchObject({ state: 'verified', missed_checks: 1 });
    const open = await alerts(tenant, 'domain_record_missing');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ resolved_at: null, data: { subjectId: verified.id, name: 'example-corp.test' } });
    await sweep('miss-2');
    expect(await domainRow(tenant, verified.id)).toMatchObject({ state: 'verified', missed_checks: 2 });
    await sweep('miss-3');
    expect(await domainRow(tenant, verified.id)).toMatchObject({ state: 'failed', missed_checks: 3 });
    expect(await alerts(tenant, 'domain_record_missing')).toHaveLength(1); // one alert, not one per miss
    let actions = (await audits(tenant, verified.id)).map((a) => a.action);
    expect(actions.filter((a) => a === 'domain.record_missing')).toHaveLength(1);
    expect(actions).toContain('domain.verification_failed');

    dns.txt.set(verified.challenge.name, [verified.challenge.value]);
    await sweep('restored');
    expect(await domainRow(tenant, verified.id)).toMatchObject({ state: 'verified', missed_checks: 0 });
    expect((await alerts(tenant, 'domain_record_missing'))[0]!.resolved_at).not.toBeNull();
    actions = (await audits(tenant, verified.id)).map((a) => a.action);
    expect(actions.at(-1)).toBe('domain.reverified');
  });

  it('the sweep starts verification for a pending claim that has no workflow', async () => {
    const d = await claim('orphaned-claim.test');
    dns.txt.set(d.challenge.name, [d.challenge.value]);
    const result = await sweep('orphan');
    expect(result.verificationsStarted).toBe(1);
    await expect(client.workflow.getHandle(domainWorkflowId(tenant.id, d.id)).result()).resolves.toMatchObject({ outcome: 'verified' });
  });

  it('raises SAML certificate expiry alerts 30 and 7 days before, each once', async () => {
    const t = await stack.createTenant();
    const metadataXml = samlMetadata({ certificates: [makeCertificate({ validDays: 20 })] });
    const conn = await withTenant(stack.app, t.id, (tx) =>
      createSsoConnection(tx, { tenantId: t.id, actor: { type: 'user', id: 'x' } }, { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: false }, { protocol: 'saml', name: 'Okta SAML', metadataXml, allowedDomains: [] }),
    );
    const first = await sweep('cert-1');
    expect(first.certificateAlerts).toBe(1);
    const second = await sweep('cert-2');
    expect(second.certificateAlerts).toBe(0);
    await stack.owner.query(sql.unsafe`UPDATE sso_connections SET cert_not_after = now() + interval '5 days' WHERE id = ${conn.id}`);
    await sweep('cert-3');
    const raised = await alerts(t, 'sso_certificate_expiring');
    expect(raised.map((a) => a.data['days'])).toEqual([30, 7]);
    expect((await audits(t, conn.id)).map((a) => a.action)).toEqual(['sso_connection.created', 'sso_connection.certificate_expiring', 'sso_connection.certificate_expiring']);
    await maybeRecordHistory(client, `sweep-test/${stack.taskQueue}/cert-3`, 'fleet-sweep');
  });

  it('the worker creates one sweep schedule for the fleet, idempotently, and it runs the sweep', async () => {
    const created = await ensureFleetSweepSchedule(client, { taskQueue: stack.taskQueue, everyMinutes: 360 });
    try {
      expect(created).toEqual({ scheduleId: fleetSweepScheduleId(stack.taskQueue), created: true });
      expect((await ensureFleetSweepSchedule(client, { taskQueue: stack.taskQueue, everyMinutes: 360 })).created).toBe(false);
      const handle = client.schedule.getHandle(created.scheduleId);
      const described = await handle.describe();
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'fleetSweep', taskQueue: stack.taskQueue });
      expect(described.spec.intervals?.[0]?.every).toBe(6 * 3_600_000);
      await handle.trigger();
      const run = await eventually(async () => (await handle.describe()).info.recentActions[0]?.action.workflow);
      await expect(client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result()).resolves.toMatchObject({ domainsChecked: expect.any(Number) });
    } finally {
      await client.schedule.getHandle(created.scheduleId).delete();
    }
  });
});
