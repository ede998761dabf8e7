import type { ExposureReport } from '../core/credentials/schema.js';
import { type Db, withTenant } from '../core/db/pool.js';
import type { Actor } from '../core/repositories/audit.js';
import * as credentials from '../core/repositories/credentials.js';

export interface CredentialActivityDeps {
  /** The app-role pool: every activity runs under row-level security for its tenant. */
  db: Db;
}

export interface LeaverStep {
  tenantId: string;
  userId: string;
  /** The calling workflow's id: the audit actor, and part of every idempotency key. */
  workflowId: string;
}

const system = (workflowId: string): Actor => ({ type: 'system', id: workflowId });

/**
 * Thin, idempotent adapters for the leaver and mover: each call changes only what is still live,
 * so a retried activity revokes nothing twice and writes no duplicate audit rows. The only
 * decision taken here is reading the tenant's orphan policy.
 */
export function createCredentialActivities({ db }: CredentialActivityDeps) {
  return {
    /** Revokes every live session, personal token and OAuth grant the user holds. */
    async revokeUserAccess(input: LeaverStep): Promise<{ sessions: number; personalTokens: number; oauthGrants: number }> {
      const revoked = await withTenant(db, input.tenantId, (tx) =>
        credentials.revokeAllUserAccess(tx, input.tenantId, input.userId, credentials.RevocationReason.leaver, system(input.workflowId)),
      );
      return { sessions: revoked.sessions.length, personalTokens: revoked.personalTokens.length, oauthGrants: revoked.oauthGrants.length };
    },

    /**
     * Service accounts the leaver still owns go to their manager (tenant policy 'reassign' and the
     * manager is a live active user), otherwise they are disabled, their tokens revoked, and they
     * are queued for a new owner. Returns the ids this call changed.
     */
    async handleOwnedServiceAccounts(input: LeaverStep): Promise<{ reassigned: string[]; disabled: string[] }> {
      return withTenant(db, input.tenantId, (tx) => credentials.handOverServiceAccounts(tx, input.tenantId, input.userId, system(input.workflowId)));
    },

    /** The mover: revokes the user's credentials that depend on a role they just lost. */
    async revokeCredentialsForLostRoles(input: LeaverStep & { lostRoles: string[] }): Promise<number> {
      const ids = await withTenant(db, input.tenantId, (tx) =>
        credentials.revokeCredentialsRequiringRoles(tx, input.tenantId, input.userId, input.lostRoles, system(input.workflowId)),
      );
      return ids.length;
    },

    /**
     * Re-reads everything the user owned and records the exposure report, once per
     * (workflowId[#step], user): a retry returns the stored report. A long-lived identity workflow
     * that runs several leavers should pass `step` (e.g. the event seq) so each run gets its own.
     */
    async verifyNoLiveCredentials(input: LeaverStep & { step?: string | number }): Promise<ExposureReport> {
      const runKey = input.step === undefined ? input.workflowId : `${input.workflowId}#${input.step}`;
      return withTenant(db, input.tenantId, async (tx) => {
        const report = await credentials.buildExposureReport(tx, input.tenantId, input.userId);
        return (await credentials.recordExposureReport(tx, input.tenantId, { userId: input.userId, runKey, report }, system(input.workflowId))).report;
      });
    },
  };
}

export type CredentialActivities = ReturnType<typeof createCredentialActivities>;
