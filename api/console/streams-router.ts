import { Router } from 'express';
import { resolveParkedStream } from '../../activities/stream-resolution.js';
import { DomainError } from '../../core/errors.js';
import { RetryStreamBody, SkipStreamBody, StreamDecision, StreamParams } from '../../core/fleet/schema.js';
import { recordStreamDecision, requireParkedStream } from '../../core/fleet/service.js';
import { type ConsoleDeps, consoleRoute, consoleRoutes } from './route.js';

/**
 * Parked identity streams (docs/operations.md): an operator retries the event or skips it, through
 * the identity workflow's resolveStream Update like `roster stream retry|skip`. The skip is audited
 * in the tenant's log by the workflow (actor: the operator); both decisions also in operator_audit.
 */
export function createConsoleStreamsRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const tags = ['Console: parked streams'];
  for (const action of ['retry', 'skip'] as const) {
    consoleRoutes(router, deps, [
      consoleRoute({
        method: 'post',
        path: `/tenants/:id/streams/:identityId/${action}`,
        summary: action === 'retry' ? 'Run the parked event of this identity again (answer: applied, or parked again)' : 'Move this identity’s stream past its parked event (a reason is required; audited)',
        tags,
        params: StreamParams,
        body: action === 'retry' ? RetryStreamBody : SkipStreamBody,
        response: StreamDecision,
        handler: async ({ db, operator, params, body }) => {
          const { reason } = body;
          await requireParkedStream(db, params.id, params.identityId);
          const temporal = deps.temporal;
          if (!temporal) throw new DomainError(503, 'unavailable', 'the workflow engine is not configured');
          const result = await resolveParkedStream(temporal, params.id, params.identityId, { action, by: operator.operatorId, ...(reason ? { reason } : {}) });
          await recordStreamDecision(db, operator.operatorId, { tenantId: params.id, identityId: params.identityId, action, reason, outcome: result.outcome, seq: result.seq });
          return { status: 200, body: { outcome: result.outcome, seq: result.seq, ...(result.outcome === 'parked' ? { failureType: result.failureType } : {}) } };
        },
      }),
    ]);
  }
  return router;
}
