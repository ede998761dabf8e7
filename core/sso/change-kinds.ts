import { changeKind, type ChangeKindDeps, type ChangeKindHandler } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import * as q from './queries.js';
import { auditShape, createSsoConnection, deleteSsoConnection, getSsoConnection, prepareCreate, prepareUpdate, type SsoPolicy, updateSsoConnection } from './service.js';
import { CreateSsoConnectionBody, DeleteSsoConnectionPayload, OidcConfig, SamlConfig, UpdateSsoConnectionPayload } from './schema.js';

/**
 * SSO connection changes as change requests (privileged: two approvers by default). The
 * description is the validated connection (discovery / metadata already checked), certificates by
 * fingerprint and expiry; no secrets exist to hide. Describe runs again before applying, so a
 * discovery document that changed meanwhile changes the hash and voids the approvals.
 */

export const ssoPolicyOf = (deps: ChangeKindDeps): SsoPolicy => ({ targets: deps.webhooks.targets, allowHttp: deps.webhooks.allowHttpLoopback });

const valuesShape = (v: q.SsoValues) =>
  auditShape({ protocol: v.protocol, name: v.name, allowedDomains: [...v.allowedDomains], oidc: v.protocol === 'oidc' ? OidcConfig.parse(v.config) : null, saml: v.protocol === 'saml' ? SamlConfig.parse(v.config) : null });

const create = changeKind({
  kind: 'sso_connection.create',
  payload: CreateSsoConnectionBody,
  async describe(tx, ctx, deps, payload) {
    const values = await prepareCreate(tx, ctx.tenantId, ssoPolicyOf(deps), payload);
    return { summary: `Create the ${payload.protocol.toUpperCase()} SSO connection "${payload.name}"`, before: null, after: valuesShape(values), subjectUserIds: [] };
  },
  async apply(tx, ctx, deps, payload) {
    const view = await createSsoConnection(tx, ctx, ssoPolicyOf(deps), payload);
    return { result: { connectionId: view.id, protocol: view.protocol, name: view.name } };
  },
  async verify(db, ctx, _deps, _payload, applied) {
    const view = await withTenant(db, ctx.tenantId, (tx) => getSsoConnection(tx, ctx.tenantId, String(applied['connectionId'])));
    return { ok: true, checks: [{ name: 'connection listed for the app', ok: true, detail: view.id }] };
  },
});

const update = changeKind({
  kind: 'sso_connection.update',
  payload: UpdateSsoConnectionPayload,
  async describe(tx, ctx, deps, payload) {
    const { connectionId, ...changes } = payload;
    const { before, after } = await prepareUpdate(tx, ctx.tenantId, ssoPolicyOf(deps), connectionId, changes);
    return { summary: `Change the SSO connection "${before.name}"`, before: auditShape(q.toSsoView(before)), after: valuesShape(after), subjectUserIds: [] };
  },
  async apply(tx, ctx, deps, payload) {
    const { connectionId, ...changes } = payload;
    const view = await updateSsoConnection(tx, ctx, ssoPolicyOf(deps), connectionId, changes);
    return { result: { connectionId: view.id, name: view.name } };
  },
});

const remove = changeKind({
  kind: 'sso_connection.delete',
  payload: DeleteSsoConnectionPayload,
  async describe(tx, ctx, _deps, payload) {
    const view = await getSsoConnection(tx, ctx.tenantId, payload.connectionId);
    return { summary: `Delete the SSO connection "${view.name}"`, before: auditShape(view), after: null, subjectUserIds: [] };
  },
  async apply(tx, ctx, _deps, payload) {
    const view = await deleteSsoConnection(tx, ctx, payload.connectionId);
    return { result: { connectionId: view.id, name: view.name } };
  },
});

export const ssoChangeKinds: readonly ChangeKindHandler[] = [create, update, remove];
