import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { type Db, withTenant } from '../core/db/pool.js';
import { lookupChallenge } from '../core/domains/dns.js';
import { type DueRef, domainsDue, findDomain, toDomainView } from '../core/domains/queries.js';
import { type CheckOutcome, recordLookup } from '../core/domains/service.js';
import { certificatesExpiring } from '../core/sso/queries.js';
import { checkCertificateExpiry } from '../core/sso/service.js';
import { CERT_ALERT_DAYS } from '../core/sso/schema.js';
import type { ServiceContext } from '../core/shared/service-context.js';
import { domainWorkflowId } from '../workflows/ids.js';
import type { DomainVerificationInput, DomainVerificationResult } from '../workflows/messages.js';

export interface DomainActivityDeps {
  /** The app-role pool: per-domain work runs under row-level security for its tenant. */
  db: Db;
  /** Starts verification workflows for pending claims the sweep finds without one. */
  client: Client;
  taskQueue: string;
  /** DNS_RESOLVER (host:port list); empty: the system's resolvers. */
  dnsServers: readonly string[];
  dnsTimeoutMs?: number;
}

/**
 * Starts a claimed domain's verification workflow (after the claim committed); a workflow already
 * running for it is left alone.
 */
export async function startDomainVerification(client: Client, taskQueue: string, input: DomainVerificationInput): Promise<{ started: boolean }> {
  try {
    await client.workflow.start<(input: DomainVerificationInput) => Promise<DomainVerificationResult>>('domainVerification', {
      workflowId: domainWorkflowId(input.tenantId, input.domainId),
      taskQueue,
      args: [input],
    });
    return { started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false };
    throw err;
  }
}

export interface SweepBatchInput {
  after: DueRef | null;
  limit: number;
  /** The sweep's workflow id: the actor of its audit rows. */
  workflowId: string;
}

export interface SweepBatchResult {
  next: DueRef | null;
  counts: { checked: number; started: number; alerts: number };
}

/** Thin adapters for domain verification and the fleet sweep: DNS lookups, then the services. */
export function createDomainActivities(deps: DomainActivityDeps) {
  const { db } = deps;
  const systemCtx = (tenantId: string, workflowId: string): ServiceContext => ({ tenantId, actor: { type: 'system', id: workflowId } });

  async function check(tenantId: string, domainId: string, workflowId: string): Promise<{ outcome: CheckOutcome; expiresAt: string | null }> {
    const row = await withTenant(db, tenantId, (tx) => findDomain(tx, tenantId, domainId));
    if (!row || row.state === 'removed' || row.state === 'expired') return { outcome: 'closed', expiresAt: null };
    const challenge = toDomainView(row).challenge;
    const lookup = await lookupChallenge(challenge.name, challenge.value, { servers: deps.dnsServers, ...(deps.dnsTimeoutMs ? { timeoutMs: deps.dnsTimeoutMs } : {}) });
    const result = await withTenant(db, tenantId, (tx) => recordLookup(tx, systemCtx(tenantId, workflowId), domainId, lookup));
    return { outcome: result.outcome, expiresAt: result.domain?.expiresAt ?? null };
  }

  return {
    /** One lookup of a claim's challenge record, applied to the domain (verified, still pending, expired, …). */
    async checkDomainChallenge(input: { tenantId: string; domainId: string; workflowId: string }): Promise<{ outcome: CheckOutcome; expiresAt: string | null }> {
      return check(input.tenantId, input.domainId, input.workflowId);
    },

    /**
     * One batch of the fleet's live domains: verified (and failed) ones are looked up again;
     * pending ones get their verification workflow if none is running (a claim applied while
     * Temporal was unreachable).
     */
    async sweepDomainBatch(input: SweepBatchInput): Promise<SweepBatchResult> {
      const due = await domainsDue(db, input.after, input.limit);
      const counts = { checked: 0, started: 0, alerts: 0 };
      for (const ref of due) {
        const row = await withTenant(db, ref.tenantId, (tx) => findDomain(tx, ref.tenantId, ref.id));
        if (!row) continue;
        if (row.state === 'pending') {
          if ((await startDomainVerification(deps.client, deps.taskQueue, { tenantId: ref.tenantId, domainId: ref.id })).started) counts.started++;
          continue;
        }
        const { outcome } = await check(ref.tenantId, ref.id, input.workflowId);
        counts.checked++;
        if (outcome === 'missing' || outcome === 'failed') counts.alerts++;
      }
      return { next: due.length === input.limit ? due.at(-1)! : null, counts };
    },

    /** One batch of SSO connections whose signing certificate expires within 30 days: alerts at 30 and 7 days. */
    async sweepCertificateBatch(input: SweepBatchInput): Promise<SweepBatchResult> {
      const due = await certificatesExpiring(db, Math.max(...CERT_ALERT_DAYS), input.after, input.limit);
      const counts = { checked: 0, started: 0, alerts: 0 };
      for (const ref of due) {
        const { alertedDays } = await withTenant(db, ref.tenantId, (tx) => checkCertificateExpiry(tx, systemCtx(ref.tenantId, input.workflowId), ref.id));
        counts.checked++;
        if (alertedDays !== null) counts.alerts++;
      }
      return { next: due.length === input.limit ? due.at(-1)! : null, counts };
    },
  };
}

export type DomainActivities = ReturnType<typeof createDomainActivities>;
