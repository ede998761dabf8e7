import { connectionChangeKinds } from '../connections/change-kinds.js';
import { entitlementChangeKinds } from '../entitlements/change-kinds.js';
import { DomainError } from '../errors.js';
import { portalAuthChangeKinds } from '../portal-auth/change-kinds.js';
import { tenantChangeKinds } from '../tenants/change-kinds.js';
import { webhookChangeKinds } from '../webhooks/change-kinds.js';
import type { ChangeKindHandler } from './kinds.js';
import { policyChangeKinds } from './policy-kind.js';
import type { ChangeKind } from './schema.js';
// ---- domain.* and sso_connection.* (helper "domains-sso") -------------------------------------
// When core/domains/change-kinds.ts and core/sso/change-kinds.ts exist, import their handler arrays
// here and add them to HANDLERS below:
//   import { domainChangeKinds } from '../domains/change-kinds.js';
//   import { ssoChangeKinds } from '../sso/change-kinds.js';
// Until then those kinds are refused with 400 `unsupported_change_kind`.
// -------------------------------------------------------------------------------------------------

/**
 * ChangeKind → its handler (core/approvals/kinds.ts). Each feature implements its kinds beside its
 * service; the engine only looks them up here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler keeps its own payload type
type AnyHandler = ChangeKindHandler<any>;

const HANDLERS: readonly AnyHandler[] = [
  ...connectionChangeKinds,
  ...entitlementChangeKinds,
  ...portalAuthChangeKinds,
  ...webhookChangeKinds,
  ...tenantChangeKinds,
  ...policyChangeKinds,
  // ...domainChangeKinds,
  // ...ssoChangeKinds,
];

const byKind = new Map<ChangeKind, AnyHandler>(HANDLERS.map((h) => [h.kind, h]));

/** The handler of a kind, or 400 `unsupported_change_kind` when no feature implements it yet. */
export function handlerFor(kind: ChangeKind): ChangeKindHandler<unknown> {
  const handler = byKind.get(kind);
  if (!handler) throw new DomainError(400, 'unsupported_change_kind', `changes of kind ${kind} cannot be requested yet`);
  return handler as ChangeKindHandler<unknown>;
}

/** The kinds that can be requested today. */
export function supportedChangeKinds(): ChangeKind[] {
  return [...byKind.keys()];
}
