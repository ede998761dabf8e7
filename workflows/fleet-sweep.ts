import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DomainActivities, SweepBatchResult } from '../activities/domains.js';
import { dnsActivity } from './activity-options.js';
import type { FleetSweepInput, FleetSweepResult } from './messages.js';

const sweep = proxyActivities<Pick<DomainActivities, 'sweepDomainBatch' | 'sweepCertificateBatch'>>(dnsActivity);

const BATCH_SIZE = 100;

/**
 * The fleet's recurring sweep, started by one Temporal Schedule (worker/fleet-sweep-schedule.ts):
 * re-checks every verified domain's challenge record (a missing one raises a tenant alert; several
 * misses in a row unverify it), starts verification for pending claims that lack a workflow, and
 * raises SAML certificate expiry alerts at 30 and 7 days. One activity per batch, keyset-paged.
 */
export async function fleetSweep(input: FleetSweepInput = {}): Promise<FleetSweepResult> {
  const { workflowId } = workflowInfo();
  const limit = input.batchSize ?? BATCH_SIZE;
  const result: FleetSweepResult = { domainsChecked: 0, verificationsStarted: 0, domainAlerts: 0, certificateAlerts: 0 };
  let after: SweepBatchResult['next'] = null;
  do {
    const batch: SweepBatchResult = await sweep.sweepDomainBatch({ after, limit, workflowId });
    result.domainsChecked += batch.counts.checked;
    result.verificationsStarted += batch.counts.started;
    result.domainAlerts += batch.counts.alerts;
    after = batch.next;
  } while (after);
  do {
    const batch: SweepBatchResult = await sweep.sweepCertificateBatch({ after, limit, workflowId });
    result.certificateAlerts += batch.counts.alerts;
    after = batch.next;
  } while (after);
  return result;
}
