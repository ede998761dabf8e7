import type { Db, Tx } from '../db/pool.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import {
  appendAudit,
  auditBatch,
  type AuditEventRow,
  auditPage,
  type ChainDetailRow,
  latestAuditId,
  sealTenantChain,
  verifyAuditChainDetail,
} from './queries.js';
import type { Actor, AuditEvent, AuditFilter, AuditPage, BrokenLink, BrokenLinkReason, ChainVerification, ExportFormat } from './schema.js';

// The audit log's rules: reading it page by page, exporting it whole in batches, and verifying its
// hash chain. Writing stays `appendAudit`, inside each feature's own transaction.

export { appendAudit };

const hex = (b: Buffer | null): string | null => (b ? b.toString('hex') : null);

export function toAuditEvent(r: AuditEventRow): AuditEvent {
  return {
    id: r.id,
    seq: r.seq,
    occurredAt: r.occurred_at,
    actor: { type: r.actor_type, id: r.actor_id },
    action: r.action,
    target: { type: r.target_type, id: r.target_id },
    requestId: r.request_id,
    data: r.data,
    prevHash: hex(r.prev_hash),
    hash: hex(r.hash),
  };
}

// Cursors are opaque to clients: `o<id>` reads older than id, `n<id>` newer than id.
const encodeCursor = (older: boolean, id: number) => Buffer.from(`${older ? 'o' : 'n'}${id}`).toString('base64url');
function decodeCursor(cursor: string): { older: boolean; from: number } {
  const m = /^([on])(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
  return { older: m[1] === 'o', from: Number(m[2]) };
}

/**
 * One page of the tenant's log, newest first, filtered. Keyset by id, so a page costs the same at
 * the millionth event as at the first, and events appended meanwhile never shift a page.
 */
export async function listAuditEvents(tx: Tx, tenantId: string, query: AuditFilter & { cursor?: string | undefined; limit: number }): Promise<AuditPage> {
  const position = query.cursor ? decodeCursor(query.cursor) : { older: true, from: undefined };
  const raw = await auditPage(tx, tenantId, query, { ...position, limit: query.limit });
  const more = raw.length > query.limit;
  const rows = raw.slice(0, query.limit);
  if (!position.older) rows.reverse();
  const first = rows[0];
  const last = rows[rows.length - 1];
  // Reading older: more older rows exist when the probe row came back; newer ones exist when we
  // started from a cursor. Reading newer: the other way round.
  const hasOlder = position.older ? more : position.from !== undefined;
  const hasNewer = position.older ? position.from !== undefined : more;
  return {
    data: rows.map(toAuditEvent),
    next: last && hasOlder ? encodeCursor(true, last.id) : null,
    prev: first && hasNewer ? encodeCursor(false, first.id) : null,
  };
}

export const EXPORT_BATCH_SIZE = 1000;

const CSV_COLUMNS = ['id', 'seq', 'occurred_at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'request_id', 'data', 'prev_hash', 'hash'] as const;

/**
 * A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A text cell that a
 * spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe (OWASP
 * "CSV injection"); ids, hashes and JSON never start that way.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(r: AuditEventRow): string {
  const cells = [r.id, r.seq, r.occurred_at, r.actor_type, r.actor_id, r.action, r.target_type, r.target_id, r.request_id, JSON.stringify(r.data), hex(r.prev_hash), hex(r.hash)];
  return `${cells.map(csvField).join(',')}\r\n`;
}

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/**
 * The filtered log as text chunks, oldest first, read in keyset batches of `batchSize`, each in a
 * short transaction of its own, so an export of any size holds one batch in memory and no
 * transaction open while the client reads. The export ends at the newest event that existed when
 * it started: events written meanwhile belong to the next export.
 */
export async function* exportAuditEvents(
  db: Db,
  tenantId: string,
  filter: AuditFilter,
  format: ExportFormat,
  options: { batchSize?: number } = {},
): AsyncGenerator<string> {
  const batchSize = options.batchSize ?? EXPORT_BATCH_SIZE;
  const upTo = await withTenant(db, tenantId, (tx) => latestAuditId(tx, tenantId));
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  if (format === 'json') yield '[';
  let after = 0;
  let first = true;
  for (;;) {
    const rows = await withTenant(db, tenantId, (tx) => auditBatch(tx, tenantId, filter, after, upTo, batchSize));
    if (rows.length === 0) break;
    let chunk = '';
    for (const r of rows) {
      if (format === 'csv') chunk += csvRow(r);
      else if (format === 'ndjson') chunk += `${JSON.stringify(toAuditEvent(r))}\n`;
      else {
        chunk += `${first ? '\n' : ',\n'}${JSON.stringify(toAuditEvent(r))}`;
        first = false;
      }
    }
    yield chunk;
    after = rows[rows.length - 1]!.id;
    if (rows.length < batchSize) break;
  }
  if (format === 'json') yield '\n]\n';
}

/** Records who exported what (an export is evidence leaving the system). */
export async function recordExport(tx: Tx, tenantId: string, actor: Actor, filter: AuditFilter, format: ExportFormat): Promise<void> {
  await appendAudit(tx, tenantId, [{ actor, action: 'audit.exported', targetType: 'audit_log', data: { format, filter } }]);
}

const EXPLANATIONS: Record<BrokenLinkReason, (d: ChainDetailRow) => string> = {
  missing_event: (d) => `expected event #${d.expected_seq} but the next stored event is #${d.found_seq}: event #${d.expected_seq} was removed`,
  prev_hash_mismatch: (d) => `event #${d.found_seq} should link to the hash of event #${(d.expected_seq ?? 1) - 1}, but it links to another value: the chain was re-linked`,
  hash_mismatch: (d) => `event #${d.found_seq}'s content no longer produces its stored hash: the event was altered after it was sealed`,
  chain_head_mismatch: (d) => `the chain head records ${d.expected_seq} events but ${d.found_seq} remain: the newest events were removed`,
};

export function toVerification(d: ChainDetailRow, checkedAt: Date = new Date()): ChainVerification {
  let firstBroken: BrokenLink | null = null;
  if (d.first_bad_seq !== null) {
    const reason = d.reason as BrokenLinkReason;
    firstBroken = {
      seq: d.first_bad_seq,
      reason,
      explanation: EXPLANATIONS[reason](d),
      eventId: d.event_id,
      expected: { seq: d.expected_seq, prevHash: hex(d.expected_prev_hash), hash: hex(d.expected_hash) },
      found: { seq: d.found_seq, prevHash: hex(d.found_prev_hash), hash: hex(d.found_hash) },
    };
  }
  return { intact: firstBroken === null, verified: d.verified, sealed: d.sealed, pending: d.pending, firstBroken, checkedAt: checkedAt.toISOString() };
}

/**
 * Links the tenant's pending events into its chain (what the worker's sealer would do next), then
 * walks the whole chain: intact, or the first broken link with what was expected there.
 */
export async function verifyAuditLog(db: Db, tenantId: string): Promise<ChainVerification> {
  // Sealing is its own transaction: it takes the chain head's row lock, which a long verification
  // should not hold.
  await withTenant(db, tenantId, async (tx) => {
    while ((await sealTenantChain(tx, tenantId)) > 0);
  });
  return withTenant(db, tenantId, async (tx) => toVerification(await verifyAuditChainDetail(tx, tenantId)));
}
