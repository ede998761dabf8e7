import type { z } from 'zod';
import type { AppRole } from '../config.js';
import type { Db, Tx } from '../db/pool.js';
import type { WebhookPolicy } from '../webhooks/service.js';
import type { ServiceContext } from '../shared/service-context.js';
import type { ChangeDescription, ChangeKind } from './schema.js';

/**
 * What one change kind contributes to the approval engine. Each feature that owns such a change
 * implements its handler beside its service (`core/<feature>/change-kinds.ts`) and the registry
 * (`core/approvals/registry.ts`) lists them; the engine never knows a feature's rules.
 */

/** What handlers may need beyond the tenant transaction; the worker and app build it once. */
export interface ChangeKindDeps {
  catalogue: readonly AppRole[];
  webhooks: WebhookPolicy;
  /** SECRETS_ENCRYPTION_KEY: seals secrets an applied change produced until collected. */
  secretKey: Buffer;
  /**
   * Starts a feature's follow-up workflow after its change committed (a claimed domain's
   * verification), from `verify`; a workflow already running under the id is left alone. Built
   * from the worker's or app's Temporal client; absent without one (the fleet sweep then starts
   * a claimed domain's verification on its next run).
   */
  startWorkflow?: (start: { workflowType: string; workflowId: string; args: unknown[] }) => Promise<void>;
  /**
   * Tells the workflows of leavers whose mass-deprovisioning hold was released, from `verify`;
   * without it they notice the committed release at their next periodic re-check.
   */
  releaseHolds?: (tenantId: string, userIds: readonly string[], by: string) => Promise<void>;
}

export interface AppliedChange {
  /** Ids and facts for the request's record and the `change.applied` event; never a secret. */
  result: Record<string, unknown>;
  /** A secret shown once to the requester (sealed until collected), e.g. a new SCIM token. */
  secret?: string;
}

export interface Verification {
  ok: boolean;
  /** What was checked, for the audit row ("new token authenticates"). */
  checks: { name: string; ok: boolean; detail?: string }[];
}

export interface ChangeKindHandler<P = unknown> {
  kind: ChangeKind;
  /** The payload as requested (parsed at the edge and again by the engine). */
  payload: z.ZodType<P, z.ZodTypeDef, unknown>;
  /**
   * Reads the current state and describes the change (before/after, subjects, effects); throws a
   * DomainError when the change is not possible now (unknown connection, invalid role). Runs at
   * request time, on edit, and again just before applying (the hash must still match).
   */
  describe(tx: Tx, ctx: ServiceContext, deps: ChangeKindDeps, payload: P): Promise<ChangeDescription>;
  /**
   * Applies through the feature's own service, inside the engine's transaction. `described` is the
   * description just re-computed in that transaction (its hash matched the approved one): a kind
   * whose effect was previewed (role mappings) applies exactly that preview.
   */
  apply(tx: Tx, ctx: ServiceContext, deps: ChangeKindDeps, payload: P, described?: ChangeDescription): Promise<AppliedChange>;
  /**
   * After commit: checks that the change took effect (a new token authenticates, …). `secret` is
   * the secret apply produced, when there is one (still sealed for the requester).
   */
  verify?(db: Db, ctx: ServiceContext, deps: ChangeKindDeps, payload: P, applied: AppliedChange['result'], secret?: string): Promise<Verification>;
}

/** Keeps a handler's payload type while listing it in the registry. */
export function changeKind<P>(handler: ChangeKindHandler<P>): ChangeKindHandler<P> {
  return handler;
}
