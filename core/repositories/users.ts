import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { claimLocks, lockUsers, ROW_LOCK } from '../db/locks.js';
import type { Statements, TenantRef, Tx } from '../db/pool.js';
import { type ListScope, maintainedCount, type Page, type PageQuery, pageClauses, PositionColumns, toPage } from './list-page.js';
import { ScimError } from '../errors.js';
import { foldKey } from '../scim/fold.js';
import type { ScimUser } from '../scim/resource.js';
import { URN } from '../scim/schema.js';
import { currentTraceparent } from '../telemetry.js';

export const LifecycleState = z.enum(['provisioned', 'active', 'suspended', 'deleted']);
export type LifecycleState = z.infer<typeof LifecycleState>;

const Json = z.record(z.unknown());

export const UserRow = z.object({
  tenant_id: z.string().uuid(),
  id: z.string().uuid(),
  user_name: z.string(),
  external_id: z.string().nullable(),
  active: z.boolean(),
  lifecycle_state: LifecycleState,
  provisioned_at: z.string(),
  activated_at: z.string().nullable(),
  suspended_at: z.string().nullable(),
  deleted_at: z.string().nullable(),
  scim_deleted_at: z.string().nullable(),
  display_name: z.string().nullable(),
  name: Json.nullable(),
  emails: z.array(Json),
  phone_numbers: z.array(Json),
  enterprise: Json.nullable(),
  attributes: Json,
  version: z.number().int(),
  event_seq: z.number().int(),
  applied_seq: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  /** User.groups (read-only, RFC 7643 §4.1.2), read in the same statement as the user. */
  groups: z.array(z.object({ id: z.string().uuid(), displayName: z.string() })),
});
export type UserRow = z.infer<typeof UserRow>;
export type UserGroupRef = UserRow['groups'][number];

/** Every user query returns its groups too: rendering a user never costs a second round trip. */
const USER_COLUMNS = sql.fragment`u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state,
  u.provisioned_at, u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name,
  u.emails, u.phone_numbers, u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at,
  u.updated_at,
  coalesce((
    SELECT jsonb_agg(jsonb_build_object('id', g.id, 'displayName', g.display_name) ORDER BY g.display_name_key)
      FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
     WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id), '[]'::jsonb) AS groups`;

/** Keys that live in their own columns; everything else goes to `attributes` verbatim. */
const COLUMN_KEYS = new Set(['userName', 'externalId', 'active', 'displayName', 'name', 'emails', 'phoneNumbers', URN.enterprise]);

function columnsOf(user: ScimUser) {
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(user)) {
    if (!COLUMN_KEYS.has(key) && value !== undefined) attributes[key] = value;
  }
  const u = user as Record<string, unknown>;
  return {
    userName: user.userName,
    userNameKey: foldKey(user.userName),
    externalId: (u.externalId as string | null | undefined) ?? null,
    active: user.active !== false,
    displayName: (u.displayName as string | undefined) ?? null,
    name: u.name === undefined ? null : JSON.stringify(u.name),
    emails: JSON.stringify(u.emails ?? []),
    phoneNumbers: JSON.stringify(u.phoneNumbers ?? []),
    enterprise: u[URN.enterprise] === undefined ? null : JSON.stringify(u[URN.enterprise]),
    attributes: JSON.stringify(attributes),
  };
}

/** The stored SCIM representation (no id, meta, schemas or groups: those are rendered). */
export function userFromRow(row: UserRow): ScimUser {
  const user: Record<string, unknown> = { ...row.attributes, userName: row.user_name, active: row.active };
  if (row.external_id !== null) user.externalId = row.external_id;
  if (row.display_name !== null) user.displayName = row.display_name;
  if (row.name !== null) user.name = row.name;
  if (row.emails.length) user.emails = row.emails;
  if (row.phone_numbers.length) user.phoneNumbers = row.phone_numbers;
  if (row.enterprise !== null) user[URN.enterprise] = row.enterprise;
  return user as ScimUser;
}

function uniquenessError(err: unknown, userName: string): never {
  if (err instanceof UniqueIntegrityConstraintViolationError) {
    throw ScimError.conflict(`userName "${userName}" is already taken in this tenant`);
  }
  throw err;
}

export async function insertUser(tx: Tx, tenantId: string, user: ScimUser): Promise<UserRow> {
  const c = columnsOf(user);
  try {
    return await tx.one(sql.type(UserRow)`
      INSERT INTO users AS u (tenant_id, user_name, user_name_key, external_id, active, lifecycle_state,
                        display_name, name, emails, phone_numbers, enterprise, attributes, event_seq)
      VALUES (${tenantId}, ${c.userName}, ${c.userNameKey}, ${c.externalId}, ${c.active}, 'provisioned',
              ${c.displayName}, ${c.name}::jsonb, ${c.emails}::jsonb, ${c.phoneNumbers}::jsonb, ${c.enterprise}::jsonb,
              ${c.attributes}::jsonb, 1)
      RETURNING ${USER_COLUMNS}`);
  } catch (err) {
    uniquenessError(err, user.userName);
  }
}

export interface NewUserRecord {
  /** Chosen by the caller, so the audit values can be sealed under the identity's key beforehand. */
  id: string;
  user: ScimUser;
  /** The identity's personal-data key, stored with it. */
  dataKey: Buffer;
  /** The `user.created` audit event (actor: this SCIM connection). */
  audit: { actorId: string; requestId: string | null; data: Record<string, unknown> };
}

/**
 * A SCIM create in one statement and its own implicit transaction (scim_create_user: tenant,
 * user, personal-data key, audit event and outbox seq 1, under row-level security). Returns null,
 * writing nothing, when the externalId names a still-restorable identity: restore that one. A
 * taken userName is the usual 409. Takes `db.statements` (or a connection), not a transaction (see
 * findUserByNameKey).
 */
export async function createUserRecorded(db: Pick<Statements, 'maybeOne'>, tenantId: TenantRef, r: NewUserRecord): Promise<UserRow | null> {
  const c = columnsOf(r.user);
  try {
    return await db.maybeOne(sql.type(UserRow)`
      SELECT * FROM scim_create_user(${tenantId}, ${r.id}, ${c.userName}, ${c.userNameKey}, ${c.externalId}, ${c.active},
        ${c.displayName}, ${c.name}::jsonb, ${c.emails}::jsonb, ${c.phoneNumbers}::jsonb, ${c.enterprise}::jsonb,
        ${c.attributes}::jsonb, ${sql.binary(r.dataKey)}, ${r.audit.actorId}, ${r.audit.requestId}, ${JSON.stringify(r.audit.data)}::jsonb,
        ${currentTraceparent()}::text)`);
  } catch (err) {
    uniquenessError(err, r.user.userName);
  }
}

/**
 * Reads a live (not SCIM-deleted) user, optionally locking it for the rest of the transaction (in
 * the lock order of core/db/locks.ts, in the same statement as the read).
 */
export async function findUser(tx: Tx, id: string, options: { forUpdate?: boolean } = {}): Promise<UserRow | null> {
  if (!isUuid(id)) return null;
  if (options.forUpdate) claimLocks(tx, 'users', [id]);
  return tx.maybeOne(sql.type(UserRow)`
    SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ${id} AND u.scim_deleted_at IS NULL
    ${options.forUpdate ? ROW_LOCK : sql.fragment``}`);
}

const UserForWrite = UserRow.extend({
  /** The identity's personal-data key (null until its first sealed audit value). */
  data_key: z.instanceof(Buffer).nullable(),
});
export type UserForWrite = z.infer<typeof UserForWrite>;

/**
 * A live user locked for a write (lock order: core/db/locks.ts), with its personal-data key, in
 * one statement: the write then needs no round trip to fetch the key that seals its audit values.
 */
export async function findUserForWrite(tx: Tx, id: string): Promise<UserForWrite | null> {
  if (!isUuid(id)) return null;
  claimLocks(tx, 'users', [id]);
  return tx.maybeOne(sql.type(UserForWrite)`
    SELECT ${USER_COLUMNS}, k.data_key FROM users u
      LEFT JOIN personal_data_keys k ON k.tenant_id = u.tenant_id AND k.user_id = u.id
     WHERE u.id = ${id} AND u.scim_deleted_at IS NULL
       FOR NO KEY UPDATE OF u`);
}

export interface UserWriteRecord {
  /** The SCIM connection that wrote, the request, the audit action and its (sealed) data. */
  audit: { actorId: string; requestId: string | null; action: string; data: Record<string, unknown> };
  /** The event on the user's stream; its seq is the one this update assigns. */
  event: { type: string; payload: Record<string, unknown> };
}

/**
 * A live user with its personal-data key, read in one statement of its own
 * (`scim_user_for_write`) and without a lock: the first half of a user write that takes no
 * transaction (`updateUserAtVersion`). Takes `db.statements`, not a transaction.
 */
export async function readUserForWrite(db: Pick<Statements, 'maybeOne'>, tenantId: TenantRef, id: string): Promise<UserForWrite | null> {
  if (!isUuid(id)) return null;
  return db.maybeOne(sql.type(UserForWrite)`SELECT * FROM scim_user_for_write(${tenantId}, ${id})`);
}

/**
 * Applies a new stored representation and the lifecycle consequences of `active` changing, and
 * records it (audit event, outbox event with the stream's next seq), in one statement
 * (`scim_update_user`), and only if the user is still live and at `current.version`, the version
 * the new representation was computed from. Null when it has moved on: nothing was written. On
 * `db.statements` it is its own implicit transaction, the user's row lock its only one; inside the
 * caller's transaction (`withTenant` for the same tenant, the user locked) it always writes.
 */
export async function updateUserAtVersion(
  db: Pick<Statements, 'maybeOne'>,
  tenantId: TenantRef,
  current: UserRow,
  next: ScimUser,
  r: UserWriteRecord,
): Promise<UserRow | null> {
  const c = columnsOf(next);
  try {
    return await db.maybeOne(sql.type(UserRow)`
      SELECT * FROM scim_update_user(${tenantId}, ${current.id}, ${current.version}, ${c.userName}, ${c.userNameKey},
        ${c.externalId}, ${c.active}, ${c.displayName}, ${c.name}::jsonb, ${c.emails}::jsonb, ${c.phoneNumbers}::jsonb,
        ${c.enterprise}::jsonb, ${c.attributes}::jsonb, ${current.active && !c.active}, ${r.audit.actorId}, ${r.audit.requestId},
        ${r.audit.action}, ${JSON.stringify(r.audit.data)}::jsonb, ${r.event.type}, ${JSON.stringify(r.event.payload)}::jsonb,
        ${currentTraceparent()}::text)`);
  } catch (err) {
    uniquenessError(err, next.userName);
  }
}

/**
 * SCIM DELETE: the resource is gone for SCIM at once (RFC 7644 §3.6) and the identity is suspended
 * synchronously; its workflow carries out the rest (grace period, then deletion).
 */
export async function markUserScimDeleted(tx: Tx, current: UserRow): Promise<UserRow> {
  return tx.one(sql.type(UserRow)`
    UPDATE users AS u SET scim_deleted_at = now(), active = false,
           lifecycle_state = CASE WHEN lifecycle_state = 'deleted' THEN 'deleted' ELSE 'suspended' END,
           suspended_at = CASE WHEN u.active THEN now() ELSE coalesce(suspended_at, now()) END,
           version = version + 1, event_seq = event_seq + 1, updated_at = now()
     WHERE u.id = ${current.id}
     RETURNING ${USER_COLUMNS}`);
}

/**
 * A SCIM-deleted identity still inside its grace period that the IdP re-creates with the same
 * externalId (a restore): found so the POST can bring it back instead of minting a new identity.
 */
export async function findRestorable(tx: Tx, tenantId: string, externalId: string): Promise<UserRow | null> {
  const row = await tx.maybeOne(sql.type(UserRow)`
    SELECT ${USER_COLUMNS} FROM users u
     WHERE u.tenant_id = ${tenantId} AND u.external_id = ${externalId}
       AND u.scim_deleted_at IS NOT NULL AND u.lifecycle_state <> 'deleted'
     ORDER BY u.scim_deleted_at DESC LIMIT 1 ${ROW_LOCK}`);
  // The id is known only once locked: recorded afterwards (this is the create's first lock).
  if (row) claimLocks(tx, 'users', [row.id]);
  return row;
}

/** Brings a SCIM-deleted identity back with the IdP's new representation (same id, same history). */
export async function restoreUser(tx: Tx, current: UserRow, next: ScimUser): Promise<UserRow> {
  const c = columnsOf(next);
  try {
    return await tx.one(sql.type(UserRow)`
      UPDATE users AS u SET scim_deleted_at = NULL, user_name = ${c.userName}, user_name_key = ${c.userNameKey},
             active = ${c.active}, display_name = ${c.displayName}, name = ${c.name}::jsonb, emails = ${c.emails}::jsonb,
             phone_numbers = ${c.phoneNumbers}::jsonb, enterprise = ${c.enterprise}::jsonb, attributes = ${c.attributes}::jsonb,
             version = version + 1, event_seq = event_seq + 1, updated_at = now()
       WHERE u.id = ${current.id}
       RETURNING ${USER_COLUMNS}`);
  } catch (err) {
    uniquenessError(err, next.userName);
  }
}

const UserPageRow = UserRow.extend(PositionColumns.shape);

/**
 * `userName eq` in one statement and its own implicit transaction: scim_user_by_name_key sets the
 * tenant and selects with row-level security in force. Takes `db.statements` (the lean executor,
 * core/db/statement.ts) or a connection, not a transaction: inside an explicit transaction the
 * tenant setting would outlive the statement.
 */
export async function findUserByNameKey(db: Pick<Statements, 'any'>, tenantId: TenantRef, userNameKey: string): Promise<readonly UserRow[]> {
  return db.any(sql.type(UserRow)`SELECT * FROM scim_user_by_name_key(${tenantId}, ${userNameKey})`);
}

/**
 * One page of live users, in a stable order (sort key, then created_at, id), plus the total.
 * Continuing from a position is a keyset range, so a page costs the same at any depth; the total
 * of an unfiltered list is the maintained count, a filtered one counts its matches (the cost of
 * the filter: an index scan for indexed `eq`, otherwise a scan of the tenant's rows).
 */
export async function listUsers(tx: Tx, scope: ListScope, q: PageQuery): Promise<Page<UserRow>> {
  const total = scope.filtered
    ? await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM users u WHERE u.scim_deleted_at IS NULL AND (${q.where})`)
    : await maintainedCount(tx, scope.tenantId, 'User');
  if (q.limit === 0) return { total, rows: [], more: total > 0 };
  const p = pageClauses('u', q);
  const raw = await tx.any(sql.type(UserPageRow)`
    SELECT ${USER_COLUMNS}, ${p.positionColumns}
      FROM users u
     WHERE u.scim_deleted_at IS NULL AND (${q.where}) AND ${p.keyset}
     ORDER BY ${p.orderBy} ${p.limit}`);
  return toPage(raw, q.limit, p.backwards, total);
}

/**
 * Lock users in the lock order (core/db/locks.ts) and give each the next seq of its event stream.
 * A membership change also changes the user's SCIM representation (`groups`), so its version
 * (ETag) and lastModified move too: otherwise If-None-Match answers 304 with stale groups and
 * If-Match accepts a tag taken before the change.
 */
export async function bumpUserStreams(tx: Tx, userIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (userIds.length === 0) return out;
  const ids = sql.array(userIds, 'uuid');
  await lockUsers(tx, userIds);
  const rows = await tx.any(sql.type(z.object({ id: z.string().uuid(), event_seq: z.number() }))`
    UPDATE users SET event_seq = event_seq + 1, version = version + 1, updated_at = now()
     WHERE id = ANY(${ids}) RETURNING id, event_seq`);
  for (const r of rows) out.set(r.id, r.event_seq);
  return out;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID_RE.test(value);
