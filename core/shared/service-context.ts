import type { Actor, AuditEventInput } from '../repositories/audit.js';

/** Who acts, for which tenant: every feature service call takes one. */
export interface ServiceContext {
  tenantId: string;
  actor: Actor;
  /** Correlates the audit row with the request log. */
  requestId?: string | undefined;
}

/** An audit row for an action taken in this context. */
export function auditEntry(ctx: ServiceContext, action: string, targetType: string, targetId: string, data: Record<string, unknown> = {}): AuditEventInput {
  return { actor: ctx.actor, action, targetType, targetId, data, ...(ctx.requestId ? { requestId: ctx.requestId } : {}) };
}
