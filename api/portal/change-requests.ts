import type { Request, Response } from 'express';
import type { AppliedChange } from '../../core/approvals/kinds.js';
import { type ChangeKind, type ChangeRequestView, SubmittedChange } from '../../core/approvals/schema.js';
import { submitChange } from '../../activities/approval-client.js';
import { type Db, type Tx, withTenant } from '../../core/db/pool.js';
import type { Actor } from '../../core/repositories/audit.js';
import type { PortalDeps } from './deps.js';
import type { RouteResult } from './route.js';
import { approvalEngineDeps } from '../approval-engine.js';
import { requestIdOf } from '../request-id.js';

/** What a rerouted portal route hands over: its streamed context (it owns no transaction). */
export interface PortalChangeContext {
  db: Db;
  tenantId: string;
  actor: Actor;
  req: Request;
  res: Response;
}

/** The route's usual answer, built from what the change applied (inside a tenant transaction). */
export type AppliedAnswer = (tx: Tx, applied: AppliedChange, request: ChangeRequestView) => Promise<RouteResult> | RouteResult;

/** The answer of a route whose change has no other body: 201 with the request, applied at once. */
export const answerWithRequest: AppliedAnswer = (_tx, _applied, request) => ({ status: 201, body: { request } });

/** For a rerouted route's OpenAPI description. */
export const APPROVAL_NOTE =
  "Needs approval under the tenant's approval policy: 202 `{ request }` when the change waits for approvers; the body below plus `changeRequestId` when the policy applies it at once.";

/** The OpenAPI description of the answer a rerouted route gives while its change waits. */
export const WAITS_FOR_APPROVAL = [{ status: 202, description: 'The change waits for approvers: its request (nothing changed yet)', schema: SubmittedChange }] as const;


/**
 * The portal's changes that need approval (issue 8) go through the approval engine's
 * `submitChange`, whichever page asks: the route names the change kind and its payload, and
 * answers
 * - 202 `{ request }` (the engine's SubmittedChange) when the change waits for approvers;
 * - its usual body plus `changeRequestId` when the tenant's policy needs no approver for this
 *   kind (`approvals: 0`), so the engine applied it at once (still recorded and audited). A route
 *   whose usual answer is 204 keeps it and names the request in the `Change-Request-Id` header.
 *
 * Routes that call it are declared `stream: true`: the engine opens its own transactions and
 * starts the request's workflow after commit.
 */
export function portalChangeSubmitter(deps: PortalDeps) {
  const engine = approvalEngineDeps(deps.config, deps.secretKey, deps.temporal);
  return async function submit(ctx: PortalChangeContext, change: { kind: ChangeKind; payload: unknown; reason?: string | undefined }, answer: AppliedAnswer): Promise<RouteResult> {
    const serviceCtx = { tenantId: ctx.tenantId, actor: ctx.actor, requestId: requestIdOf(ctx.req) };
    const submitted = await submitChange(ctx.db, deps.temporal, serviceCtx, engine, change);
    // A secret may be in either answer's future: never let a cache keep one.
    ctx.res.set('Cache-Control', 'no-store');
    if (!submitted.applied) return { status: 202, body: { request: submitted.request } };
    const applied = submitted.applied;
    const result = await withTenant(ctx.db, ctx.tenantId, async (tx): Promise<RouteResult> => answer(tx, applied, submitted.request));
    if (result.body === undefined) {
      ctx.res.set('Change-Request-Id', submitted.request.id);
      return result;
    }
    return { ...result, body: { ...(result.body as Record<string, unknown>), changeRequestId: submitted.request.id } };
  };
}

export type PortalChangeSubmitter = ReturnType<typeof portalChangeSubmitter>;

/** A string field of an applied change's result (ids the handlers put there). */
export function resultString(applied: AppliedChange, key: string): string {
  const value = applied.result[key];
  if (typeof value !== 'string') throw new Error(`the applied change has no ${key}`);
  return value;
}
