import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { connectionActivity, recentScimErrors } from './activity.js';
import * as q from './queries.js';
import {
  type CreatedConnection,
  MAX_TOKEN_OVERLAP_SECONDS,
  type RotatedToken,
  type ScimConnectionView,
  type ScimConnectionWithActivity,
  type ScimTokenView,
  ConnectionName,
  tokenStatus,
} from './schema.js';

/**
 * SCIM connections and their tokens: the one place their rules and audit rows live. The CLI and
 * the portal API call these inside their tenant transaction (`withTenant`); nothing here commits.
 * No lifecycle events exist for connections, so there is no outbox row.
 */

function tokenView(row: q.ScimTokenRow, now: number): ScimTokenView {
  const view = { id: row.id, prefix: row.token_prefix, createdAt: row.created_at, lastUsedAt: row.last_used_at, expiresAt: row.expires_at, revokedAt: row.revoked_at };
  return { ...view, status: tokenStatus(view, now) };
}

function connectionView(row: q.ScimConnectionRow, tokens: readonly q.ScimTokenRow[], now = Date.now()): ScimConnectionView {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    tokens: tokens.filter((t) => t.connection_id === row.id).map((t) => tokenView(t, now)),
  };
}

/** The tenant's connections, oldest first, each with its tokens (never a token's secret). */
export async function listConnections(tx: Tx, tenantId: string): Promise<ScimConnectionView[]> {
  const connections = await q.listConnections(tx, tenantId);
  const tokens = await q.listTokens(tx, tenantId);
  const now = Date.now();
  return connections.map((c) => connectionView(c, tokens, now));
}

/** How many of a connection's latest SCIM error answers the connections list carries. */
export const LISTED_RECENT_ERRORS = 10;

/** The connections with their traffic (core/connections/activity.ts): what the portal's page shows. */
export async function listConnectionsWithActivity(tx: Tx, tenantId: string): Promise<ScimConnectionWithActivity[]> {
  const connections = await listConnections(tx, tenantId);
  const activity = new Map((await connectionActivity(tx, tenantId)).map((a) => [a.connectionId, a]));
  const out: ScimConnectionWithActivity[] = [];
  for (const c of connections) {
    const a = activity.get(c.id);
    out.push({
      ...c,
      activity: { lastRequestAt: a?.lastRequestAt ?? null, requests1h: a?.requests1h ?? 0, errors1h: a?.errors1h ?? 0, errorRate1h: a?.errorRate1h ?? 0 },
      recentErrors: await recentScimErrors(tx, tenantId, c.id, LISTED_RECENT_ERRORS),
    });
  }
  return out;
}

export async function getConnection(tx: Tx, tenantId: string, connectionId: string): Promise<ScimConnectionView> {
  const row = await q.findConnection(tx, tenantId, connectionId);
  if (!row) throw new DomainError(404, 'not_found', 'no such SCIM connection');
  return connectionView(row, await q.listTokens(tx, tenantId, [row.id]));
}

/** A new SCIM connection with its first token; the token is in the answer once and stored hashed. */
export async function createConnection(tx: Tx, ctx: ServiceContext, input: { name: string }): Promise<CreatedConnection> {
  const name = ConnectionName.parse(input.name);
  const row = await q.insertConnection(tx, ctx.tenantId, name);
  const issued = await q.insertToken(tx, ctx.tenantId, row.id);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, 'scim_connection.created', 'scim_connection', row.id, { name, tokenId: issued.row.id, tokenPrefix: issued.row.token_prefix }),
  ]);
  return { connectionId: row.id, tokenId: issued.row.id, token: issued.token, connection: connectionView(row, [issued.row]) };
}

async function requireLiveConnection(tx: Tx, tenantId: string, connectionId: string): Promise<q.ScimConnectionRow> {
  const row = await q.findConnection(tx, tenantId, connectionId);
  if (!row || row.revoked_at) throw new DomainError(404, 'not_found', 'no such active SCIM connection');
  return row;
}

/**
 * Issues a new token for the connection; its live older tokens keep working for `overlapSeconds`
 * (0: they stop at once), so the IdP can be switched over without a failed sync.
 */
export async function rotateToken(tx: Tx, ctx: ServiceContext, input: { connectionId: string; overlapSeconds: number }): Promise<RotatedToken> {
  if (!Number.isInteger(input.overlapSeconds) || input.overlapSeconds < 0 || input.overlapSeconds > MAX_TOKEN_OVERLAP_SECONDS) {
    throw new DomainError(400, 'invalid_request', `overlapSeconds: a whole number from 0 to ${MAX_TOKEN_OVERLAP_SECONDS}`);
  }
  await requireLiveConnection(tx, ctx.tenantId, input.connectionId);
  const expired = await q.expireLiveTokens(tx, ctx.tenantId, input.connectionId, input.overlapSeconds);
  const issued = await q.insertToken(tx, ctx.tenantId, input.connectionId);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, 'scim_token.rotated', 'scim_connection', input.connectionId, {
      tokenId: issued.row.id,
      tokenPrefix: issued.row.token_prefix,
      overlapSeconds: input.overlapSeconds,
      previousTokenIds: expired.tokenIds,
      previousValidUntil: expired.until,
    }),
  ]);
  return { connectionId: input.connectionId, tokenId: issued.row.id, token: issued.token, previousValidUntil: expired.until };
}

/** Revokes one token: effective on the next request (the token cache hears it at commit). */
export async function revokeToken(tx: Tx, ctx: ServiceContext, input: { tokenId: string; connectionId?: string | undefined }): Promise<ScimTokenView> {
  const row = await q.revokeTokenRow(tx, ctx.tenantId, input.tokenId);
  if (!row || (input.connectionId && row.connection_id !== input.connectionId)) throw new DomainError(404, 'not_found', 'no such live SCIM token');
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'scim_token.revoked', 'scim_token', row.id, { connectionId: row.connection_id, tokenPrefix: row.token_prefix })]);
  return tokenView(row, Date.now());
}

/** Revokes a connection and all its tokens: effective on the next request. */
export async function revokeConnection(tx: Tx, ctx: ServiceContext, input: { connectionId: string }): Promise<void> {
  if (!(await q.revokeConnectionRows(tx, ctx.tenantId, input.connectionId))) throw new DomainError(404, 'not_found', 'no such active SCIM connection');
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'scim_connection.revoked', 'scim_connection', input.connectionId)]);
}

/** The one live connection of the tenant (what the CLI acts on when no connection is named). */
export async function soleLiveConnection(tx: Tx, tenantId: string): Promise<string> {
  const live = (await q.listConnections(tx, tenantId)).filter((c) => !c.revoked_at);
  if (live.length !== 1) throw new DomainError(400, 'ambiguous', `tenant has ${live.length} active SCIM connections; name one`);
  return live[0]!.id;
}
