import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { csvField } from '../audit/service.js';
import { type Db, type Tx, withTenant } from '../db/pool.js';
import { EVIDENCE_COLUMNS } from './schema.js';

// The evidence of a campaign: one row per item (subject, access, reviewer, decision, time, reason,
// how it was applied), in item id order, read in keyset batches so 100,000 items stream with one
// batch in memory. CSV and JSON come out as text chunks; the digest (sha256 over the rows as JSON
// lines) is what the `campaign.closed` audit row and the summary carry.

export type EvidenceRow = { [K in (typeof EVIDENCE_COLUMNS)[number]]: unknown };

export const EVIDENCE_BATCH = 2000;

const Row = z.object({
  item_id: z.string(),
  access_kind: z.string(),
  access: z.string(),
  subject_user_id: z.string().nullable(),
  subject_name: z.string().nullable(),
  service_account_id: z.string().nullable(),
  sources: z.unknown(),
  risk: z.number(),
  risk_reasons: z.array(z.string()),
  recommendation: z.string(),
  reviewer_id: z.string().nullable(),
  reviewer_name: z.string().nullable(),
  assigned_by: z.string(),
  decision: z.string().nullable(),
  decision_reason: z.string().nullable(),
  decided_at: z.string().nullable(),
  decision_ms: z.number().nullable(),
  outcome: z.string(),
  applied: z.unknown().nullable(),
  applied_at: z.string().nullable(),
});

// A role's access_ref is a role name: the cast to uuid sits inside a CASE, as join conditions are
// evaluated in whatever order the plan picks (a hash join casts every row's key).
async function batch(tx: Pick<Tx, 'any'>, tenantId: string, campaignId: string, after: string, limit: number) {
  return tx.any(sql.type(Row)`
    SELECT i.id::text AS item_id, i.access_kind,
           CASE i.access_kind WHEN 'role' THEN i.access_ref
                WHEN 'token' THEN coalesce(cr.name, cr.token_prefix, i.access_ref)
                WHEN 'service_account' THEN coalesce(sa.name, i.access_ref)
                ELSE coalesce(g.client_name, g.client_id, i.access_ref) END AS access,
           i.user_id AS subject_user_id,
           CASE WHEN i.access_kind IN ('service_account', 'token') THEN sa.name ELSE u.user_name END AS subject_name,
           i.service_account_id, i.sources, i.risk, i.risk_reasons, i.recommendation,
           i.reviewer_id, coalesce(p.display_name, p.email) AS reviewer_name, i.assigned_by,
           i.decision, i.decision_reason, i.decided_at, i.decision_ms, i.outcome, i.applied, i.applied_at
      FROM campaign_items i
      LEFT JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
      LEFT JOIN service_accounts sa ON sa.tenant_id = i.tenant_id AND sa.id = i.service_account_id
      LEFT JOIN credentials cr ON cr.tenant_id = i.tenant_id AND cr.id = CASE WHEN i.access_kind = 'token' THEN i.access_ref::uuid END
      LEFT JOIN oauth_grants g ON g.tenant_id = i.tenant_id AND g.id = CASE WHEN i.access_kind = 'oauth_grant' THEN i.access_ref::uuid END
      LEFT JOIN portal_users p ON p.tenant_id = i.tenant_id AND p.id = i.reviewer_id
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.id > ${after}::int8
     ORDER BY i.id LIMIT ${limit}`);
}

function toEvidence(r: z.infer<typeof Row>): EvidenceRow {
  return {
    itemId: r.item_id,
    accessKind: r.access_kind,
    access: r.access,
    subjectUserId: r.subject_user_id,
    subjectName: r.subject_name,
    serviceAccountId: r.service_account_id,
    sources: r.sources,
    risk: r.risk,
    riskReasons: r.risk_reasons,
    recommendation: r.recommendation,
    reviewerId: r.reviewer_id,
    reviewerName: r.reviewer_name,
    assignedBy: r.assigned_by,
    decision: r.decision,
    decisionReason: r.decision_reason,
    decidedAt: r.decided_at,
    decisionMs: r.decision_ms,
    outcome: r.outcome,
    applied: r.applied ?? null,
    appliedAt: r.applied_at,
  };
}

/** The rows read through one transaction (the close computes the digest in its own). */
export async function* evidenceRowsIn(tx: Pick<Tx, 'any'>, tenantId: string, campaignId: string, batchSize = EVIDENCE_BATCH): AsyncGenerator<EvidenceRow> {
  let after = '0';
  for (;;) {
    const rows = await batch(tx, tenantId, campaignId, after, batchSize);
    for (const r of rows) yield toEvidence(r);
    if (rows.length < batchSize) return;
    after = rows[rows.length - 1]!.item_id;
  }
}

/** Evidence rows in item id order, each batch in a short transaction of its own (bounded memory). */
export async function* evidenceRows(db: Db, tenantId: string, campaignId: string, batchSize = EVIDENCE_BATCH): AsyncGenerator<EvidenceRow> {
  let after = '0';
  for (;;) {
    const rows = await withTenant(db, tenantId, (tx) => batch(tx, tenantId, campaignId, after, batchSize));
    for (const r of rows) yield toEvidence(r);
    if (rows.length < batchSize) return;
    after = rows[rows.length - 1]!.item_id;
  }
}

/** One evidence row as the JSON line the digest covers (keys in EVIDENCE_COLUMNS order). */
export const evidenceLine = (row: EvidenceRow) => `${JSON.stringify(row)}\n`;

const cell = (v: unknown): string | number | null => (v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v));

/** CSV text chunks (RFC 4180, header first), about one batch per chunk. */
export async function* evidenceCsv(rows: AsyncIterable<EvidenceRow>): AsyncGenerator<string> {
  yield `${EVIDENCE_COLUMNS.join(',')}\r\n`;
  let chunk = '';
  let n = 0;
  for await (const row of rows) {
    chunk += `${EVIDENCE_COLUMNS.map((k) => csvField(cell(row[k]))).join(',')}\r\n`;
    if (++n % 500 === 0) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** A JSON array of evidence objects, as text chunks. */
export async function* evidenceJson(rows: AsyncIterable<EvidenceRow>): AsyncGenerator<string> {
  let chunk = '[';
  let n = 0;
  for await (const row of rows) {
    chunk += `${n === 0 ? '' : ','}${JSON.stringify(row)}`;
    if (++n % 500 === 0) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}]`;
}

/** sha256 (hex) over the rows as JSON lines, in item id order. */
export async function evidenceDigest(rows: AsyncIterable<EvidenceRow>): Promise<string> {
  const h = createHash('sha256');
  for await (const row of rows) h.update(evidenceLine(row));
  return h.digest('hex');
}

export async function evidenceDigestIn(tx: Pick<Tx, 'any'>, tenantId: string, campaignId: string): Promise<string> {
  return evidenceDigest(evidenceRowsIn(tx, tenantId, campaignId));
}
