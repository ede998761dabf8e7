import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { DomainActivities } from '../activities/domains.js';
import type { EventActivities } from '../activities/events.js';
import { databaseActivity, dnsActivity } from './activity-options.js';
import type { DomainVerificationInput, DomainVerificationResult } from './messages.js';

const dns = proxyActivities<Pick<DomainActivities, 'checkDomainChallenge'>>(dnsActivity);
const events = proxyActivities<Pick<EventActivities, 'emitEvent'>>(databaseActivity);

const INITIAL_DELAY_MS = 30_000;
const MAX_DELAY_MS = 3_600_000;
/** Past this many history events the workflow continues as new (a week of hourly lookups stays far below). */
const HISTORY_LIMIT = 2_000;

/**
 * A claimed domain's verification (`domain/<tenantId>/<domainId>`): looks the challenge TXT record
 * up with backoff (30 s doubling to an hour) until it is found or the challenge expires (7 days
 * after the claim; the last wait ends at the expiry, so it is recorded on time). The database row
 * is the record: every lookup's outcome is applied there by the activity, with its audit row; a
 * verification also emits `domain.verified` to the vendor's app.
 */
export async function domainVerification(input: DomainVerificationInput): Promise<DomainVerificationResult> {
  const { tenantId, domainId } = input;
  const { workflowId } = workflowInfo();
  const maxDelay = input.maxDelayMs ?? MAX_DELAY_MS;
  let delay = input.initialDelayMs ?? INITIAL_DELAY_MS;
  let lookups = input.lookups ?? 0;
  for (;;) {
    const checked = await dns.checkDomainChallenge({ tenantId, domainId, workflowId });
    lookups++;
    if (checked.outcome === 'verified') {
      await events.emitEvent({ tenantId, workflowId, step: 'verified', type: 'domain.verified', subjectType: 'domain', subjectId: domainId });
      return { outcome: 'verified', lookups };
    }
    if (checked.outcome === 'expired') return { outcome: 'expired', lookups };
    // Removed meanwhile, or no longer pending (a later run of the sweep owns verified domains).
    if (checked.outcome !== 'pending' && checked.outcome !== 'taken') return { outcome: 'closed', lookups };
    const untilExpiry = checked.expiresAt ? Date.parse(checked.expiresAt) - Date.now() : delay;
    await sleep(Math.max(1, Math.min(delay, untilExpiry)));
    delay = Math.min(delay * 2, maxDelay);
    if (workflowInfo().historyLength > HISTORY_LIMIT) {
      return continueAsNew<typeof domainVerification>({ ...input, initialDelayMs: delay, lookups });
    }
  }
}
