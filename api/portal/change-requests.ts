import type { Request } from 'express';
import { workflowStarter } from '../../activities/workflow-starter.js';
import { type ApprovalDeps, approvalDepsFromConfig, submitChange } from '../../core/approvals/service.js';
import type { ChangeKind } from '../../core/approvals/schema.js';
import type { Db } from '../../core/db/pool.js';
import type { Actor } from '../../core/repositories/audit.js';
import type { PortalDeps } from './deps.js';

/** The request id pino-http assigned, for audit rows. */
const requestIdOf = (req: { id?: unknown }) => (typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : undefined);

/**
 * Feature routes whose changes need approval submit a change request instead of changing
 * anything: 202 with the request (201 when its policy applied it at once). The engine's deps start
 * follow-up workflows (a claimed domain's verification) when a change applies inline.
 */
export function changeRequester(deps: PortalDeps) {
  const engine: ApprovalDeps = {
    ...approvalDepsFromConfig(deps.config, deps.secretKey),
    ...(deps.temporal ? { startWorkflow: workflowStarter(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE) } : {}),
  };
  return async (input: { db: Db; tenantId: string; actor: Actor; req: Request; kind: ChangeKind; payload: unknown; reason?: string | undefined }) => {
    const r = await submitChange(input.db, deps.temporal, { tenantId: input.tenantId, actor: input.actor, requestId: requestIdOf(input.req) }, engine, {
      kind: input.kind,
      payload: input.payload,
      reason: input.reason,
    });
    return { status: r.applied ? 201 : 202, body: { request: r.request } };
  };
}
