import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { withTenant } from '../../core/db/pool.js';
import * as directory from '../../core/directory/service.js';
import {
  GroupDetail,
  GroupListQuery,
  GroupMembersQuery,
  GroupPage,
  IdParams,
  UserDetail,
  UserExposure,
  UserListQuery,
  UserPage,
  UserTimeline,
  type WorkflowStatus,
} from '../../core/directory/schema.js';
import { identityWorkflowId } from '../../workflows/ids.js';
import { identityStatusQuery } from '../../workflows/messages.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './deps.js';

/** Every directory read is open to admins, reviewers and auditors; approvers do not browse people. */
const READERS = ['admin', 'auditor', 'reviewer'] as const;

const DESCRIBE_DEADLINE_MS = 2_000;

const STATUS_NAMES: Record<string, WorkflowStatus['status']> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  CONTINUED_AS_NEW: 'continued_as_new',
  TIMED_OUT: 'timed_out',
};

/**
 * The identity workflow as Temporal sees it now, and its own status query while it runs. Without a
 * Temporal client, or when Temporal does not answer in time, the status is "unknown" (the audit
 * timeline is still the durable record).
 */
export async function describeIdentityWorkflow(client: Client | undefined, tenantId: string, userId: string): Promise<WorkflowStatus> {
  const workflowId = identityWorkflowId(tenantId, userId);
  const unknown = (reason: string): WorkflowStatus => ({ workflowId, status: 'unknown', startedAt: null, historyLength: null, live: null, reason });
  if (!client) return unknown('the workflow engine is not configured for this API process');
  try {
    return await client.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, async () => {
      const handle = client.workflow.getHandle(workflowId);
      const d = await handle.describe();
      const status = STATUS_NAMES[d.status.name] ?? 'unknown';
      let live: WorkflowStatus['live'] = null;
      if (status === 'running') {
        try {
          const s = await handle.query(identityStatusQuery);
          live = { state: s.state, appliedSeq: s.appliedSeq, pendingSeqs: s.pendingSeqs, awaitingDeletion: s.awaitingDeletion, held: s.held, leaverDone: s.leaverDone };
        } catch {
          live = null; // a busy or replaying workflow may not answer a query in time: describe is enough
        }
      }
      return { workflowId, status, startedAt: d.startTime.toISOString(), historyLength: d.historyLength, live, reason: null };
    });
  } catch (err) {
    if ((err as { name?: string }).name === 'WorkflowNotFoundError') {
      return { workflowId, status: 'not_found', startedAt: null, historyLength: null, live: null, reason: 'no workflow has run for this identity yet' };
    }
    return unknown('the workflow engine did not answer in time');
  }
}

/** GET /users, /users/:id (+ /timeline, /exposure), /groups, /groups/:id. */
export function createDirectoryRouter(deps: PortalDeps): Router {
  const router = Router();
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/users',
      roles: [...READERS],
      summary: 'Users of the tenant: search (3+ characters, userName / displayName / email / externalId), state filter, keyset pages',
      query: UserListQuery,
      response: UserPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await directory.listUsers(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'get',
      path: '/users/:id',
      roles: [...READERS],
      summary: 'One user: IdP-managed attributes, lifecycle state, effective roles with their sources, groups, owned credentials and service accounts',
      params: IdParams,
      response: UserDetail,
      handler: async ({ tx, tenantId, params }) => ({ status: 200, body: await directory.userDetail(tx, tenantId, params.id, deps.config.APP_ROLES) }),
    }),
    portalRoute({
      method: 'get',
      path: '/users/:id/timeline',
      roles: [...READERS],
      summary: "The user's lifecycle audit events (newest first) and the identity workflow's live status",
      params: IdParams,
      response: UserTimeline,
      // Not one transaction around everything: asking Temporal may take up to its deadline, and a
      // database connection should not wait on it. The audit read is its own tenant transaction.
      stream: true,
      handler: async ({ db, tenantId, params }) => {
        const timeline = await withTenant(db, tenantId, (tx) => directory.userTimeline(tx, tenantId, params.id));
        const workflow = await describeIdentityWorkflow(deps.temporal, tenantId, timeline.userId);
        return { status: 200, body: { ...timeline, workflow } };
      },
    }),
    portalRoute({
      method: 'get',
      path: '/users/:id/exposure',
      roles: [...READERS],
      summary: "The leaver exposure report: everything the user owns, what was revoked (when, why) and what is still open",
      params: IdParams,
      response: UserExposure,
      handler: async ({ tx, tenantId, params }) => ({ status: 200, body: await directory.userExposure(tx, tenantId, params.id) }),
    }),
    portalRoute({
      method: 'get',
      path: '/groups',
      roles: [...READERS],
      summary: 'Groups of the tenant: search by display name (3+ characters), keyset pages',
      query: GroupListQuery,
      response: GroupPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await directory.listGroups(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'get',
      path: '/groups/:id',
      roles: [...READERS],
      summary: 'One group: mapped roles and its members (keyset pages)',
      params: IdParams,
      query: GroupMembersQuery,
      response: GroupDetail,
      handler: async ({ tx, tenantId, params, query }) => ({ status: 200, body: await directory.groupDetail(tx, tenantId, params.id, query) }),
    }),
  ]);
  return router;
}
