import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { LockOrderRetry } from '../db/locks.js';
import { type Db, type TenantRef, type Tx, withRetry, withTenant } from '../db/pool.js';
import { ScimError } from '../errors.js';
import { appendAudit, type AuditEventInput } from '../repositories/audit.js';
import { newDataKey, personalDataKey, sealPersonalData, sealWithKey } from '../repositories/personal-data.js';
import {
  deleteGroup,
  findGroup,
  groupFromRow,
  type GroupRow,
  insertGroup,
  listGroups,
  type MemberDelta,
  membersOfGroups,
  planMemberChange,
  recordGroupWrite,
} from '../repositories/groups.js';
import { appendOutbox, type OutboxEventType } from '../repositories/outbox.js';
import {
  findRestorable,
  findUser,
  findUserByNameKey,
  findUserForWrite,
  insertUser,
  createUserRecorded,
  listUsers,
  markUserScimDeleted,
  readUserForWrite,
  restoreUser,
  updateUserAtVersion,
  userFromRow,
  type UserWriteRecord,
  type UserForWrite,
  type UserRow,
} from '../repositories/users.js';
import { groupIdsOfUser, lockGroupsOfUser, removeUserFromAllGroups, touchGroups } from '../repositories/groups.js';
import { findPosition, type ListScope, type Page, type PageQuery, savePosition } from '../repositories/list-page.js';
import type { ScimLimits } from './discovery.js';
import { compileFilter, compileSortBy, compileSortKey } from './filter-sql.js';
import { type FilterNode, parseFilter } from './filter.js';
import { foldKey } from './fold.js';
import { applyGroupPatch, applyUserPatch, type MemberChange, parsePatchRequest } from './patch.js';
import { decodeCursor, encodeCursor, querySignature, type ScimPaging } from './paging.js';
import { parseAttributeList, type Projection, project, wantsAttribute } from './projection.js';
import { normalizeGroupInput, normalizeUserInput, normalizeUserReplacement, type ScimGroup, type ScimUser } from './resource.js';
import { resourceTypes, URN } from './schema.js';

/** Everything one SCIM request needs; built per request, never shared. */
export interface ScimContext {
  db: Db;
  tenantId: string;
  connectionId: string;
  /** The bearer token the request authenticated with; re-checked in each statement (scimTenant). */
  tokenId: string;
  requestId: string;
  /** Absolute base of this tenant's SCIM API, e.g. https://roster.example.com/scim/v2 */
  baseUrl: string;
  limits: ScimLimits;
  paging: ScimPaging;
}

export interface ScimResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Preconditions = { ifMatch?: string | undefined; ifNoneMatch?: string | undefined };

// ---------------------------------------------------------------------------------------------
// Rendering

const etagOf = (version: number) => `W/"${version}"`;

function renderUser(ctx: ScimContext, row: UserRow): Record<string, unknown> {
  const stored = userFromRow(row) as Record<string, unknown>;
  const { userName, externalId, [URN.enterprise]: enterprise, ...rest } = stored;
  const extensionUrns = Object.keys(rest).filter((k) => k.toLowerCase().startsWith('urn:'));
  const resource: Record<string, unknown> = {
    schemas: [URN.user, ...(enterprise ? [URN.enterprise] : []), ...extensionUrns],
    id: row.id,
    ...(externalId !== undefined ? { externalId } : {}),
    userName,
    ...rest,
    ...(enterprise ? { [URN.enterprise]: enterprise } : {}),
    groups: row.groups.map((g) => ({ value: g.id, display: g.displayName, $ref: `${ctx.baseUrl}/Groups/${g.id}`, type: 'direct' })),
    meta: {
      resourceType: 'User',
      created: row.created_at,
      lastModified: row.updated_at,
      location: `${ctx.baseUrl}/Users/${row.id}`,
      version: etagOf(row.version),
    },
  };
  return resource;
}

function renderGroup(ctx: ScimContext, row: GroupRow, members: { id: string; display: string }[] | undefined) {
  const { displayName, externalId, ...rest } = groupFromRow(row) as Record<string, unknown>;
  return {
    schemas: [URN.group],
    id: row.id,
    ...(externalId !== undefined ? { externalId } : {}),
    displayName,
    ...rest,
    ...(members ? { members: members.map((m) => ({ value: m.id, display: m.display, $ref: `${ctx.baseUrl}/Users/${m.id}`, type: 'User' })) } : {}),
    meta: {
      resourceType: 'Group',
      created: row.created_at,
      lastModified: row.updated_at,
      location: `${ctx.baseUrl}/Groups/${row.id}`,
      version: etagOf(row.version),
    },
  };
}

function resourceResult(status: number, resource: Record<string, unknown>, version: number): ScimResult {
  const meta = resource.meta as { location: string };
  return {
    status,
    body: resource,
    headers: { ETag: etagOf(version), ...(status === 201 ? { Location: meta.location } : {}) },
  };
}

/** RFC 7644 §3.14: `*` or a list of entity tags; weak comparison. */
function checkIfMatch(pre: Preconditions, version: number): void {
  if (!pre.ifMatch) return;
  const tags = pre.ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*')) return;
  const mine = `"${version}"`;
  if (!tags.some((t) => t.replace(/^W\//, '') === mine)) {
    throw new ScimError(412, undefined, `resource version is ${etagOf(version)}; If-Match did not match`);
  }
}

function notModified(pre: Preconditions, version: number): boolean {
  if (!pre.ifNoneMatch) return false;
  const mine = `"${version}"`;
  return pre.ifNoneMatch.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === mine);
}

// ---------------------------------------------------------------------------------------------
// Query parameters (RFC 7644 §3.4.2)

export interface ListParams {
  filter?: string | undefined;
  startIndex?: unknown;
  count?: unknown;
  sortBy?: string | undefined;
  sortOrder?: string | undefined;
  /** RFC 9865 §2: present (even empty) selects cursor paging. */
  cursor?: unknown;
  attributes?: unknown;
  excludedAttributes?: unknown;
}

function intParam(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // Query strings: decimal integers only (Number() would also take "0x10", "1e3", " 7 ").
  if (typeof value !== 'number' && !(typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value))) {
    throw ScimError.badRequest('invalidValue', `${name} must be an integer`);
  }
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw ScimError.badRequest('invalidValue', `${name} must be an integer`);
  // Beyond this PostgreSQL's OFFSET (bigint) overflows; no page is that far anyway.
  return Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, n));
}

function projectionOf(params: { attributes?: unknown; excludedAttributes?: unknown }): Projection {
  return { attributes: parseAttributeList(params.attributes), excludedAttributes: parseAttributeList(params.excludedAttributes) };
}

function listEnvelope(total: number, startIndex: number, resources: unknown[]) {
  return {
    schemas: [URN.listResponse],
    totalResults: total,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  };
}

/**
 * RFC 9865 §2: a cursor-paged ListResponse has no startIndex; `nextCursor` is omitted only on
 * the last page, `previousCursor` (optional) whenever a previous page exists.
 */
function cursorEnvelope(total: number, resources: unknown[], nextCursor: string | undefined, previousCursor: string | undefined) {
  return {
    schemas: [URN.listResponse],
    totalResults: total,
    itemsPerPage: resources.length,
    ...(nextCursor !== undefined ? { nextCursor } : {}),
    ...(previousCursor !== undefined ? { previousCursor } : {}),
    Resources: resources,
  };
}

/**
 * startIndex / count / sortOrder / cursor of a list request, parsed, defaulted and capped.
 * `cursor` is set (possibly empty: the first page) when the client asked for cursor paging.
 */
export function pageOf(ctx: ScimContext, params: ListParams) {
  const order = params.sortOrder?.toLowerCase();
  if (order !== undefined && order !== 'ascending' && order !== 'descending') {
    throw ScimError.badRequest('invalidValue', 'sortOrder must be "ascending" or "descending"');
  }
  const descending = order === 'descending';
  if (params.cursor !== undefined && params.cursor !== null) {
    if (typeof params.cursor !== 'string') throw ScimError.badRequest('invalidCursor', 'cursor must be a string');
    if (params.startIndex !== undefined && params.startIndex !== '') {
      throw ScimError.badRequest('invalidValue', 'use either startIndex (index paging) or cursor (RFC 9865 cursor paging), not both');
    }
    // RFC 9865 §2: with cursors, count is a positive integer; more than maxPageSize is served as
    // maxPageSize (a server MAY return fewer than asked).
    const asked = intParam('count', params.count);
    if (asked !== undefined && asked < 1) throw ScimError.badRequest('invalidCount', `count must be between 1 and ${ctx.limits.maxPageSize} with cursor paging`);
    const count = Math.min(ctx.limits.maxPageSize, asked ?? ctx.limits.defaultPageSize);
    return { startIndex: 1, count, descending, cursor: params.cursor };
  }
  const startIndex = Math.max(1, intParam('startIndex', params.startIndex) ?? 1);
  const count = Math.min(ctx.limits.maxPageSize, Math.max(0, intParam('count', params.count) ?? ctx.limits.defaultPageSize));
  return { startIndex, count, descending, cursor: undefined };
}

/** The request's filter, parsed once per request (within the configured length and depth). */
/**
 * The request's tenant for the statement that scopes a transaction to it: the token is re-checked
 * there (scim_token_tenant), so a revocation committed anywhere stops the next request even when
 * this process authenticated it from its cache before the revocation's NOTIFY arrived.
 */
export const scimTenant = (ctx: Pick<ScimContext, 'tokenId' | 'tenantId'>): TenantRef =>
  sql.fragment`scim_token_tenant(${ctx.tokenId}, ${ctx.tenantId})`;

function parseListFilter(ctx: ScimContext, params: ListParams): FilterNode | undefined {
  return params.filter ? parseFilter(params.filter, { maxLength: ctx.limits.maxFilterLength, maxDepth: ctx.limits.maxFilterDepth }) : undefined;
}

const tenantScope = (ctx: ScimContext, alias: 'u' | 'g') =>
  alias === 'u' ? sql.fragment`u.tenant_id = ${ctx.tenantId}` : sql.fragment`g.tenant_id = ${ctx.tenantId}`;

/**
 * One list request, either paging style, for either resource type: compiles filter and sort,
 * picks the position to continue from, reads the page and renders it inside one transaction.
 */
async function listResources<Row extends { id: string }>(
  ctx: ScimContext,
  params: ListParams,
  resourceType: 'User' | 'Group',
  read: (tx: Tx, scope: ListScope, q: PageQuery) => Promise<Page<Row>>,
  render: (tx: Tx, rows: readonly Row[]) => Promise<unknown[]> | unknown[],
  parsed: { page: ReturnType<typeof pageOf>; filter: FilterNode | undefined } = { page: pageOf(ctx, params), filter: parseListFilter(ctx, params) },
): Promise<ScimResult> {
  const { page } = parsed;
  const alias = resourceType === 'User' ? 'u' : 'g';
  const filter = parsed.filter ? compileFilter(parsed.filter, resourceType) : undefined;
  const where = filter ? sql.fragment`${tenantScope(ctx, alias)} AND (${filter})` : tenantScope(ctx, alias);
  const sortBy = params.sortBy ? compileSortKey(params.sortBy, resourceType) : undefined;
  const signature = querySignature(resourceType, params.filter, params.sortBy, page.descending);
  const scope: ListScope = { tenantId: ctx.tenantId, filtered: filter !== undefined };
  const base = { where, sortBy, descending: page.descending, limit: page.count };
  const { cursorKey } = ctx.paging;

  if (page.cursor === undefined) {
    return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
      const after = page.startIndex > 1 ? await findPosition(tx, ctx.tenantId, signature, page.startIndex - 1) : undefined;
      const result = await read(tx, scope, { ...base, after, offset: after ? undefined : page.startIndex - 1 });
      // Only a page with more after it can be continued from: a lookup answering one row writes nothing.
      if (result.last && result.more) await savePosition(tx, ctx.tenantId, signature, page.startIndex - 1 + result.rows.length, result.last);
      return { status: 200, body: listEnvelope(result.total, page.startIndex, await render(tx, result.rows)) };
    });
  }

  const claims = { tenantId: ctx.tenantId, signature };
  const position = page.cursor === '' ? undefined : decodeCursor(cursorKey, page.cursor, claims);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const result = await read(tx, scope, {
      ...base,
      after: position?.direction === 'after' ? position.boundary : undefined,
      before: position?.direction === 'before' ? position.boundary : undefined,
    });
    const backwards = position?.direction === 'before';
    // Reading forwards, the probe row says whether a next page exists; reading backwards, the page
    // we came from is next. Symmetrically for the previous page. An empty page links nowhere.
    const hasNext = result.rows.length > 0 && (backwards || result.more);
    const hasPrevious = result.rows.length > 0 && (backwards ? result.more : position !== undefined);
    const ttlSeconds = ctx.limits.cursorTimeoutSeconds;
    const next = hasNext && result.last ? encodeCursor(cursorKey, { ...claims, ttlSeconds, position: { direction: 'after', boundary: result.last } }) : undefined;
    const previous =
      hasPrevious && result.first ? encodeCursor(cursorKey, { ...claims, ttlSeconds, position: { direction: 'before', boundary: result.first } }) : undefined;
    return { status: 200, body: cursorEnvelope(result.total, await render(tx, result.rows), next, previous) };
  });
}

// ---------------------------------------------------------------------------------------------
// Users

/**
 * The value of a filter that is exactly `userName eq "<string>"` (optionally with the core schema
 * URN), else undefined. IdPs send this before every create (Entra, Okta: RFC 7644 §3.4.2.2).
 */
function userNameEqValue(filter: FilterNode): string | undefined {
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  const p = filter.path;
  if (p.sub !== undefined || p.valueFilter !== undefined || p.attr.toLowerCase() !== 'username') return undefined;
  if (p.uri !== undefined && p.uri.toLowerCase() !== URN.user.toLowerCase()) return undefined;
  return filter.value;
}

export async function listUsersOp(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const projection = projectionOf(params);
  // Fast path: `userName eq "…"`, the lookup IdPs send before every create, in one statement with
  // no explicit transaction. userName is unique per tenant, so the first page holds the whole
  // result and sorting cannot change it; cursor paging and later pages take the general path.
  const page = pageOf(ctx, params);
  const filter = parseListFilter(ctx, params);
  const userName = filter && page.cursor === undefined && page.startIndex === 1 && page.count > 0 ? userNameEqValue(filter) : undefined;
  if (userName !== undefined) {
    if (params.sortBy) compileSortBy(params.sortBy, 'User'); // still refuse what the general path refuses
    const rows = await withRetry(() => findUserByNameKey(ctx.db.statements, scimTenant(ctx), foldKey(userName)));
    const resources = rows.map((r) => project(resourceTypes.User, renderUser(ctx, r), projection));
    return { status: 200, body: listEnvelope(rows.length, page.startIndex, resources) };
  }
  return listResources(ctx, params, 'User', listUsers, (_tx, rows) => rows.map((r) => project(resourceTypes.User, renderUser(ctx, r), projection)), { page, filter });
}

function renderOneUser(ctx: ScimContext, row: UserRow, projection: Projection = {}) {
  return project(resourceTypes.User, renderUser(ctx, row), projection);
}

export async function getUserOp(ctx: ScimContext, id: string, params: ListParams, pre: Preconditions = {}): Promise<ScimResult> {
  const projection = projectionOf(params);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const row = await findUser(tx, id);
    if (!row) throw ScimError.notFound(`User ${id} not found`);
    if (notModified(pre, row.version)) return { status: 304, headers: { ETag: etagOf(row.version) } };
    return resourceResult(200, renderOneUser(ctx, row, projection), row.version);
  });
}

const scimActor = (ctx: ScimContext) => ({ type: 'scim' as const, id: ctx.connectionId });

function userAudit(ctx: ScimContext, action: string, userId: string, data: Record<string, unknown>): AuditEventInput {
  return { actor: scimActor(ctx), action, targetType: 'user', targetId: userId, requestId: ctx.requestId, data };
}

/**
 * A user write's audit event: which attributes changed stays readable; their values (personal
 * data) are sealed under the identity's key so erasure can remove them from the append-only log.
 */
async function auditUserWrite(
  ctx: ScimContext,
  tx: Tx,
  action: string,
  userId: string,
  values: { changed: string[]; before?: unknown; after: unknown },
): Promise<void> {
  const personal = await sealPersonalData(tx, ctx.tenantId, userId, { before: values.before ?? null, after: values.after });
  await appendAudit(tx, ctx.tenantId, [userAudit(ctx, action, userId, { changed: values.changed, personal })]);
}

/** Attribute-level before/after of what changed (the audit trail's "before/after"). */
function diff(before: Record<string, unknown>, after: Record<string, unknown>) {
  const changed: string[] = [];
  const b: Record<string, unknown> = {};
  const a: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      changed.push(key);
      b[key] = before[key] ?? null;
      a[key] = after[key] ?? null;
    }
  }
  return { changed, before: b, after: a };
}

export async function createUserOp(ctx: ScimContext, body: unknown): Promise<ScimResult> {
  const user = normalizeUserInput(body);
  // The identity's id and key are chosen here so its audit values can be sealed before the one
  // statement (its own implicit transaction) that writes user, key, audit and outbox event.
  const id = randomUUID();
  const dataKey = newDataKey();
  const changed = Object.keys(user);
  const personal = sealWithKey(dataKey, ctx.tenantId, id, { before: null, after: user });
  const audit = { actorId: ctx.connectionId, requestId: ctx.requestId, data: { changed, personal } };
  const created = await withRetry(() => createUserRecorded(ctx.db.statements, scimTenant(ctx), { id, user, dataKey, audit }));
  if (created) return resourceResult(201, renderOneUser(ctx, created), created.version);
  // The externalId names a SCIM-deleted identity inside its grace period (nothing was written).
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const externalId = (user as { externalId?: unknown }).externalId;
    const deleted = typeof externalId === 'string' ? await findRestorable(tx, ctx.tenantId, externalId) : null;
    if (deleted) {
      // Re-created inside the grace period: the same identity comes back (its revoked credentials do not).
      const restored = await restoreUser(tx, deleted, user);
      await auditUserWrite(ctx, tx, 'user.restored', restored.id, { changed: Object.keys(user), after: user });
      await appendOutbox(tx, ctx.tenantId, [
        { streamType: 'user', streamId: restored.id, seq: restored.event_seq, type: 'user.restored', payload: { active: restored.active } },
      ]);
      return resourceResult(201, renderOneUser(ctx, restored), restored.version);
    }
    const row = await insertUser(tx, ctx.tenantId, user);
    await auditUserWrite(ctx, tx, 'user.created', row.id, { changed: Object.keys(user), after: user });
    await appendOutbox(tx, ctx.tenantId, [
      { streamType: 'user', streamId: row.id, seq: row.event_seq, type: 'user.created', payload: { active: row.active } },
    ]);
    return resourceResult(201, renderOneUser(ctx, row), row.version);
  });
}

function userEventType(wasActive: boolean, isActive: boolean): OutboxEventType {
  if (wasActive && !isActive) return 'user.deactivated';
  if (!wasActive && isActive) return 'user.activated';
  return 'user.updated';
}

/** The audit event (values sealed under the identity's key) and stream event of a user write. */
function userWriteRecord(ctx: ScimContext, current: UserRow, next: ScimUser, key: Buffer, d: ReturnType<typeof diff>): UserWriteRecord {
  const personal = sealWithKey(key, ctx.tenantId, current.id, { before: d.before, after: d.after });
  const type = userEventType(current.active, next.active !== false);
  return {
    audit: { actorId: ctx.connectionId, requestId: ctx.requestId || null, action: type, data: { changed: d.changed, personal } },
    event: { type, payload: { changed: d.changed } },
  };
}

/**
 * Writes a user's new representation with its audit event and its stream event, in one statement
 * after the locking read.
 */
async function writeUser(ctx: ScimContext, tx: Tx, current: UserForWrite, next: ScimUser): Promise<UserRow> {
  const d = diff(userFromRow(current), next);
  if (d.changed.length === 0) return current;
  const key = current.data_key ?? (await personalDataKey(tx, ctx.tenantId, current.id));
  const row = await updateUserAtVersion(tx, scimTenant(ctx), current, next, userWriteRecord(ctx, current, next, key, d));
  // The user is locked by this transaction since `current` was read: its version cannot have moved.
  if (!row) throw new Error(`user ${current.id} changed under its row lock`);
  return row;
}

/**
 * A user PATCH or PUT when nobody else writes the user meanwhile: a plain read, the new
 * representation worked out here (`next`; undefined: nothing changes), and one write conditional
 * on the version read. Two statements, each its own implicit transaction, instead of a transaction
 * of five round trips; the user's row lock lasts one statement. Undefined when the user moved on
 * in between, or has no personal-data key yet: the caller then takes the locking path, which
 * always gets through (retrying optimistic writes could starve under IdPs' overlapping writes).
 */
async function writeUserAtVersion(
  ctx: ScimContext,
  id: string,
  pre: Preconditions,
  next: (current: UserRow) => ScimUser | undefined,
  projection: Projection = {},
): Promise<ScimResult | undefined> {
  const current = await withRetry(() => readUserForWrite(ctx.db.statements, scimTenant(ctx), id));
  if (!current) throw ScimError.notFound(`User ${id} not found`);
  checkIfMatch(pre, current.version);
  const user = next(current);
  const d = user && diff(userFromRow(current), user);
  if (!user || !d?.changed.length) return resourceResult(200, renderOneUser(ctx, current, projection), current.version);
  if (!current.data_key) return undefined;
  const record = userWriteRecord(ctx, current, user, current.data_key, d);
  const row = await withRetry(() => updateUserAtVersion(ctx.db.statements, scimTenant(ctx), current, user, record));
  return row ? resourceResult(200, renderOneUser(ctx, row, projection), row.version) : undefined;
}

/** PUT (RFC 7644 §3.5.1): replaces the writable attributes; read-only ones in the body are ignored. */
export async function replaceUserOp(ctx: ScimContext, id: string, body: unknown, pre: Preconditions): Promise<ScimResult> {
  const { user, activeGiven } = normalizeUserReplacement(body);
  const nextFor = (current: UserRow): ScimUser => (activeGiven ? user : { ...user, active: current.active });
  const uncontended = await writeUserAtVersion(ctx, id, pre, nextFor);
  if (uncontended) return uncontended;
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const current = await findUserForWrite(tx, id);
    if (!current) throw ScimError.notFound(`User ${id} not found`);
    checkIfMatch(pre, current.version);
    const row = await writeUser(ctx, tx, current, nextFor(current));
    return resourceResult(200, renderOneUser(ctx, row), row.version);
  });
}

export async function patchUserOp(ctx: ScimContext, id: string, body: unknown, pre: Preconditions, params: ListParams = {}): Promise<ScimResult> {
  const ops = parsePatchRequest(body, { maxOperations: ctx.limits.maxPatchOperations });
  const projection = projectionOf(params);
  const patched = (current: UserRow) => {
    const { user, changed } = applyUserPatch(userFromRow(current), ops);
    return changed ? user : undefined;
  };
  const uncontended = await writeUserAtVersion(ctx, id, pre, patched, projection);
  if (uncontended) return uncontended;
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const current = await findUserForWrite(tx, id);
    if (!current) throw ScimError.notFound(`User ${id} not found`);
    checkIfMatch(pre, current.version);
    const user = patched(current);
    const row = user ? await writeUser(ctx, tx, current, user) : current;
    return resourceResult(200, renderOneUser(ctx, row, projection), row.version);
  });
}

export async function deleteUserOp(ctx: ScimContext, id: string, pre: Preconditions): Promise<ScimResult> {
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    // The user's groups lose a member, so their versions (ETags) move too: lock them first, then
    // the user (core/db/locks.ts). A group PATCH may add the user to another group in between;
    // once the user is locked no membership can appear, so re-read and start over if one did.
    const groupIds = await lockGroupsOfUser(tx, id);
    const current = await findUser(tx, id, { forUpdate: true });
    if (!current) throw ScimError.notFound(`User ${id} not found`);
    checkIfMatch(pre, current.version);
    if ((await groupIdsOfUser(tx, id)).some((g) => !groupIds.includes(g))) {
      throw new LockOrderRetry('the user joined a group while its groups were being locked');
    }
    const row = await markUserScimDeleted(tx, current);
    const groups = await removeUserFromAllGroups(tx, id);
    await touchGroups(tx, groups);
    await appendAudit(tx, ctx.tenantId, [userAudit(ctx, 'user.deleted', id, { removedFromGroups: groups })]);
    await appendOutbox(tx, ctx.tenantId, [{ streamType: 'user', streamId: id, seq: row.event_seq, type: 'user.deleted', payload: {} }]);
    return { status: 204 };
  });
}

// ---------------------------------------------------------------------------------------------
// Groups

export async function listGroupsOp(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const projection = projectionOf(params);
  const rt = resourceTypes.Group;
  return listResources(ctx, params, 'Group', listGroups, async (tx, rows) => {
    const members = wantsAttribute(rt, projection, 'members') ? await membersOfGroups(tx, rows.map((r) => r.id)) : undefined;
    return rows.map((r) => project(rt, renderGroup(ctx, r, members ? (members.get(r.id) ?? []) : undefined), projection));
  });
}

async function renderOneGroup(ctx: ScimContext, tx: Tx, row: GroupRow, projection: Projection = {}) {
  const rt = resourceTypes.Group;
  const members = wantsAttribute(rt, projection, 'members') ? ((await membersOfGroups(tx, [row.id])).get(row.id) ?? []) : undefined;
  return project(rt, renderGroup(ctx, row, members), projection);
}

export async function getGroupOp(ctx: ScimContext, id: string, params: ListParams, pre: Preconditions = {}): Promise<ScimResult> {
  const projection = projectionOf(params);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const row = await findGroup(tx, id);
    if (!row) throw ScimError.notFound(`Group ${id} not found`);
    if (notModified(pre, row.version)) return { status: 304, headers: { ETag: etagOf(row.version) } };
    return resourceResult(200, await renderOneGroup(ctx, tx, row, projection), row.version);
  });
}

function groupAudit(ctx: ScimContext, action: string, groupId: string, data: Record<string, unknown>): AuditEventInput {
  return { actor: scimActor(ctx), action, targetType: 'group', targetId: groupId, requestId: ctx.requestId, data };
}

const NO_MEMBER_CHANGE: MemberDelta = { added: [], removed: [], unresolved: [] };
const noMemberChange = (m: MemberChange) => !m.replaceAll && !m.removeAll && m.add.length === 0 && m.remove.length === 0;

export async function createGroupOp(ctx: ScimContext, body: unknown): Promise<ScimResult> {
  const { group, members } = normalizeGroupInput(body);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const created = await insertGroup(tx, ctx.tenantId, group);
    // Nobody else can see the new group yet: it needs no lock before its members' locks.
    const delta = members?.length ? await planMemberChange(tx, created.id, { add: members, remove: [] }) : NO_MEMBER_CHANGE;
    const row = await recordGroupWrite(tx, ctx.tenantId, created.id, {
      delta,
      audit: groupAudit(ctx, 'group.created', created.id, { after: group, membersAdded: delta.added, unresolvedMembers: delta.unresolved }),
      event: { type: 'group.created', payload: { membersAdded: delta.added.length } },
    });
    return resourceResult(201, await renderOneGroup(ctx, tx, row), row.version);
  });
}

/** A change to a locked group: its member change, attributes, audit event and event in one statement. */
async function writeGroup(ctx: ScimContext, tx: Tx, current: GroupRow, next: ScimGroup, members: MemberChange | undefined) {
  const d = diff(groupFromRow(current), next);
  const delta = members && !noMemberChange(members) ? await planMemberChange(tx, current.id, members) : NO_MEMBER_CHANGE;
  if (d.changed.length === 0 && delta.added.length === 0 && delta.removed.length === 0 && delta.unresolved.length === 0) return current;
  return recordGroupWrite(tx, ctx.tenantId, current.id, {
    delta,
    next,
    audit: groupAudit(ctx, 'group.updated', current.id, {
      changed: d.changed,
      before: d.before,
      after: d.after,
      membersAdded: delta.added,
      membersRemoved: delta.removed,
      unresolvedMembers: delta.unresolved,
    }),
    event: { type: 'group.updated', payload: { changed: d.changed, membersAdded: delta.added.length, membersRemoved: delta.removed.length } },
  });
}

/**
 * PUT: replaces the group's attributes. `members` replaces the member list only when present:
 * clients rename groups with PUT bodies that leave members out, and emptying a group on a rename
 * would be an outage.
 */
export async function replaceGroupOp(ctx: ScimContext, id: string, body: unknown, pre: Preconditions): Promise<ScimResult> {
  const { group, members } = normalizeGroupInput(body);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const current = await findGroup(tx, id, { forUpdate: true });
    if (!current) throw ScimError.notFound(`Group ${id} not found`);
    checkIfMatch(pre, current.version);
    const row = await writeGroup(ctx, tx, current, group, members ? { replaceAll: members, add: [], remove: [] } : undefined);
    return resourceResult(200, await renderOneGroup(ctx, tx, row), row.version);
  });
}

export async function patchGroupOp(ctx: ScimContext, id: string, body: unknown, pre: Preconditions, params: ListParams = {}): Promise<ScimResult> {
  const ops = parsePatchRequest(body, { maxOperations: ctx.limits.maxPatchOperations });
  const projection = projectionOf(params);
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const current = await findGroup(tx, id, { forUpdate: true });
    if (!current) throw ScimError.notFound(`Group ${id} not found`);
    checkIfMatch(pre, current.version);
    const { group, members } = applyGroupPatch(groupFromRow(current), ops);
    const row = await writeGroup(ctx, tx, current, group, members);
    // 204 unless the client asked for attributes back (RFC 7644 §3.5.2; Entra prefers 204).
    if (!projection.attributes) return { status: 204, headers: { ETag: etagOf(row.version) } };
    return resourceResult(200, await renderOneGroup(ctx, tx, row, projection), row.version);
  });
}

export async function deleteGroupOp(ctx: ScimContext, id: string, pre: Preconditions): Promise<ScimResult> {
  return withTenant(ctx.db, scimTenant(ctx), async (tx) => {
    const current = await findGroup(tx, id, { forUpdate: true });
    if (!current) throw ScimError.notFound(`Group ${id} not found`);
    checkIfMatch(pre, current.version);
    const delta = await planMemberChange(tx, id, { removeAll: true, add: [], remove: [] });
    await recordGroupWrite(tx, ctx.tenantId, id, {
      delta,
      audit: groupAudit(ctx, 'group.deleted', id, { before: groupFromRow(current), membersRemoved: delta.removed }),
      event: { type: 'group.deleted', payload: {}, seq: current.event_seq + 1 },
    });
    await deleteGroup(tx, id);
    return { status: 204 };
  });
}
