import { z } from 'zod';
import { changeKind, type Verification } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { authenticateScimToken } from '../repositories/scim-tokens.js';
import * as q from './queries.js';
import { ConnectionName, MAX_TOKEN_OVERLAP_SECONDS } from './schema.js';
import { createConnection, revokeConnection, rotateToken } from './service.js';

/**
 * SCIM connection changes as approval requests (core/approvals/kinds.ts): what they change, how
 * they apply (through core/connections/service.ts, as a direct change would) and how the engine
 * checks afterwards that they took effect.
 */

const CreatePayload = z.object({ name: ConnectionName }).strict();
const RotatePayload = z.object({ connectionId: z.string().uuid(), overlapSeconds: z.number().int().min(0).max(MAX_TOKEN_OVERLAP_SECONDS) }).strict();
const RevokePayload = z.object({ connectionId: z.string().uuid() }).strict();

async function liveConnection(tx: Parameters<typeof q.findConnection>[0], tenantId: string, connectionId: string) {
  const row = await q.findConnection(tx, tenantId, connectionId);
  if (!row || row.revoked_at) throw new DomainError(404, 'not_found', 'no such active SCIM connection');
  const tokens = (await q.listTokens(tx, tenantId, [row.id])).filter((t) => !t.revoked_at && (!t.expires_at || Date.parse(t.expires_at) > Date.now()));
  return { row, tokens };
}

const check = (name: string, ok: boolean, detail?: string): Verification['checks'][number] => ({ name, ok, ...(detail ? { detail } : {}) });

export const connectionChangeKinds = [
  changeKind({
    kind: 'scim_connection.create',
    payload: CreatePayload,
    async describe(tx, ctx, _deps, p) {
      const existing = (await q.listConnections(tx, ctx.tenantId)).filter((c) => !c.revoked_at).map((c) => c.name);
      return {
        summary: `Create the SCIM connection "${p.name}" with its first token`,
        before: { liveConnections: existing.sort() },
        after: { liveConnections: [...existing, p.name].sort(), created: { name: p.name } },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      const created = await createConnection(tx, ctx, { name: p.name });
      return { result: { connectionId: created.connectionId, tokenId: created.tokenId, tokenPrefix: created.connection.tokens[0]?.prefix ?? null }, secret: created.token };
    },
    async verify(db, ctx, _deps, _p, applied, secret) {
      const principal = secret ? await authenticateScimToken(db, secret) : null;
      const ok = principal?.tenantId === ctx.tenantId && principal.connectionId === applied.connectionId;
      return { ok, checks: [check('new token authenticates', ok)] };
    },
  }),
  changeKind({
    kind: 'scim_connection.rotate',
    payload: RotatePayload,
    async describe(tx, ctx, _deps, p) {
      const { row, tokens } = await liveConnection(tx, ctx.tenantId, p.connectionId);
      return {
        summary: `Rotate the token of SCIM connection "${row.name}" (current tokens keep working ${p.overlapSeconds} s)`,
        before: { connection: { id: row.id, name: row.name }, liveTokens: tokens.map((t) => t.token_prefix) },
        after: { connection: { id: row.id, name: row.name }, liveTokens: [...tokens.map((t) => t.token_prefix), '(new token)'], previousTokensStopAfterSeconds: p.overlapSeconds },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      const rotated = await rotateToken(tx, ctx, { connectionId: p.connectionId, overlapSeconds: p.overlapSeconds });
      const previous = (await q.listTokens(tx, ctx.tenantId, [p.connectionId])).filter((t) => t.id !== rotated.tokenId && !t.revoked_at && t.expires_at === rotated.previousValidUntil).map((t) => t.id);
      return { result: { connectionId: p.connectionId, tokenId: rotated.tokenId, previousValidUntil: rotated.previousValidUntil, previousTokenIds: previous }, secret: rotated.token };
    },
    async verify(db, ctx, _deps, p, applied, secret) {
      const principal = secret ? await authenticateScimToken(db, secret) : null;
      const authenticates = principal?.tenantId === ctx.tenantId && principal.tokenId === applied.tokenId;
      // The tokens it replaced stop at the overlap's end: their expiry is set to exactly that.
      const until = String(applied.previousValidUntil);
      const previousIds = new Set((applied.previousTokenIds as string[] | undefined) ?? []);
      const tokens = await withTenant(db, ctx.tenantId, (tx) => q.listTokens(tx, ctx.tenantId, [p.connectionId]));
      const stopping = tokens.filter((t) => previousIds.has(t.id)).every((t) => t.revoked_at !== null || (t.expires_at !== null && Date.parse(t.expires_at) <= Date.parse(until)));
      return {
        ok: authenticates && stopping,
        checks: [check('new token authenticates', authenticates), check('previous tokens stop at the overlap end', stopping, until)],
      };
    },
  }),
  changeKind({
    kind: 'scim_connection.revoke',
    payload: RevokePayload,
    async describe(tx, ctx, _deps, p) {
      const { row, tokens } = await liveConnection(tx, ctx.tenantId, p.connectionId);
      return {
        summary: `Revoke SCIM connection "${row.name}" and all its tokens (the IdP's provisioning stops)`,
        before: { connection: { id: row.id, name: row.name, revoked: false }, liveTokens: tokens.map((t) => t.token_prefix) },
        after: { connection: { id: row.id, name: row.name, revoked: true }, liveTokens: [] },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      await revokeConnection(tx, ctx, { connectionId: p.connectionId });
      return { result: { connectionId: p.connectionId } };
    },
    async verify(db, ctx, _deps, p) {
      const tokens = await withTenant(db, ctx.tenantId, (tx) => q.listTokens(tx, ctx.tenantId, [p.connectionId]));
      const ok = tokens.every((t) => t.revoked_at !== null);
      return { ok, checks: [check('every token of the connection is revoked', ok)] };
    },
  }),
];
