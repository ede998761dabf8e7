import pg from 'pg';
import type { TenantModel } from './load.js';
import type { ReceivedWebhook } from './webhook-receiver.js';

/** What the run left behind, compared with what the IdP was told and what the receiver saw. */
export interface ChaosVerification {
  settled: boolean;
  settleMs: number;
  usersChecked: number;
  /** A model user missing, or holding a value no accepted (or possibly applied) write explains. */
  stateMismatches: string[];
  /** Users in the database that no create the IdP sent can explain (a 503 that wrote anyway). */
  phantomUsers: number;
  /** Accepted changes not applied exactly once: a lifecycle event twice, or missing. */
  exactlyOnceViolations: string[];
  /** Streams with a gap, an undelivered or unapplied change, or webhooks first seen out of emission order. */
  streamOrderViolations: string[];
  webhookEvents: number;
  webhooksReceived: number;
  /** Event ids the receiver got more than once. */
  duplicateWebhookIds: number;
  /** When each duplicate arrived (ms since the epoch), to set beside the faults. */
  duplicates: { id: string; type: string; at: number[] }[];
  undeliveredWebhooks: number;
  auditChainsVerified: number;
  auditChainsBroken: string[];
  auditRowsSealed: number;
}

/**
 * Waits until every accepted change has flowed through (outbox delivered, streams applied, audit
 * and feed sealed, every event received), then checks. Read as the owner (the superuser of the
 * private cluster, which row-level security does not restrict).
 */
export async function verifyChaosRun(options: { databaseUrl: string; tenants: TenantModel[]; received: ReceivedWebhook[]; settleTimeoutMs: number; log?: (line: string) => void }): Promise<ChaosVerification> {
  const db = new pg.Pool({ connectionString: options.databaseUrl, max: 4 });
  try {
    const ids = options.tenants.map((t) => t.id);
    const started = Date.now();
    let settled = false;
    let lastLog = Date.now();
    while (Date.now() - started < options.settleTimeoutMs) {
      if (options.log && Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const p = await db
          .query<{ outbox: number; streams: number; events: number }>(
            `SELECT (SELECT count(*) FROM outbox WHERE tenant_id = ANY($1) AND delivered_at IS NULL)::int AS outbox,
                    (SELECT count(*) FROM users WHERE tenant_id = ANY($1) AND applied_seq <> event_seq)::int AS streams,
                    (SELECT count(*) FROM events WHERE tenant_id = ANY($1))::int AS events`,
            [ids],
          )
          .catch(() => undefined);
        if (p) options.log(`  after ${((Date.now() - started) / 1000).toFixed(0)} s: ${p.rows[0]!.outbox} outbox rows to relay, ${p.rows[0]!.streams} user streams behind, ${p.rows[0]!.events} events, ${options.received.length} webhooks received`);
      }
      const r = await db
        .query<{ pending: number }>(
          `SELECT (SELECT count(*) FROM outbox WHERE tenant_id = ANY($1) AND delivered_at IS NULL)
                + (SELECT count(*) FROM users WHERE tenant_id = ANY($1) AND applied_seq <> event_seq)
                + (SELECT count(*) FROM groups WHERE tenant_id = ANY($1) AND applied_seq <> event_seq)
                + (SELECT count(*) FROM audit_events WHERE tenant_id = ANY($1) AND seq IS NULL)
                + (SELECT count(*) FROM events WHERE tenant_id = ANY($1) AND position IS NULL) AS pending`,
          [ids],
        )
        .catch(() => ({ rows: [{ pending: -1 }] }));
      const events = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE tenant_id = ANY($1)`, [ids]).catch(() => ({ rows: [{ n: -1 }] }));
      const receivedIds = new Set(options.received.map((r) => r.id)).size;
      if (Number(r.rows[0]!.pending) === 0 && events.rows[0]!.n >= 0 && receivedIds >= events.rows[0]!.n) {
        // Quiet once more a little later: nothing still in flight behind what we counted.
        await new Promise((res) => setTimeout(res, 2_000));
        const again = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE tenant_id = ANY($1)`, [ids]);
        if (again.rows[0]!.n === events.rows[0]!.n && new Set(options.received.map((x) => x.id)).size >= again.rows[0]!.n) {
          settled = true;
          break;
        }
      }
      await new Promise((res) => setTimeout(res, 1_000));
    }
    const settleMs = Date.now() - started;

    const out: ChaosVerification = {
      settled,
      settleMs,
      usersChecked: 0,
      stateMismatches: [],
      phantomUsers: 0,
      exactlyOnceViolations: [],
      streamOrderViolations: [],
      webhookEvents: 0,
      webhooksReceived: options.received.length,
      duplicateWebhookIds: 0,
      duplicates: [],
      undeliveredWebhooks: 0,
      auditChainsVerified: 0,
      auditChainsBroken: [],
      auditRowsSealed: 0,
    };

    for (const tenant of options.tenants) {
      await checkState(db, tenant, out);
      await checkStreams(db, tenant, out);
      await checkWebhooks(db, tenant, options.received, out);
      const chain = await db.query<{ sealed: string; first_bad_seq: string | null }>(`SELECT * FROM audit_verify($1)`, [tenant.id]);
      const pending = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1 AND seq IS NULL`, [tenant.id]);
      const row = chain.rows[0]!;
      if (row.first_bad_seq === null && pending.rows[0]!.n === 0) out.auditChainsVerified++;
      else out.auditChainsBroken.push(`tenant ${tenant.index}: first bad seq ${row.first_bad_seq}, ${pending.rows[0]!.n} unsealed`);
      out.auditRowsSealed += Number(row.sealed);
    }
    return out;
  } finally {
    await db.end();
  }
}

async function checkState(db: pg.Pool, tenant: TenantModel, out: ChaosVerification) {
  const rows = await db.query<{ id: string; user_name: string; display_name: string | null; active: boolean; deleted: boolean }>(
    `SELECT id::text, user_name, display_name, active, scim_deleted_at IS NOT NULL AS deleted FROM users WHERE tenant_id = $1`,
    [tenant.id],
  );
  const members = await db.query<{ group_id: string; user_id: string }>(`SELECT group_id::text, user_id::text FROM group_members WHERE tenant_id = $1`, [tenant.id]);
  const memberOf = new Set(members.rows.map((m) => `${m.group_id}/${m.user_id}`));
  const byId = new Map(rows.rows.map((r) => [r.id, r]));
  for (const u of tenant.users.values()) {
    out.usersChecked++;
    const row = byId.get(u.id);
    const where = `tenant ${tenant.index} user ${u.id}`;
    if (!row) {
      out.stateMismatches.push(`${where}: accepted create missing`);
      continue;
    }
    if (!u.deleted.has(row.deleted)) out.stateMismatches.push(`${where}: deleted=${row.deleted}, expected ${[...u.deleted].join(" or ")}`);
    if (row.deleted) continue; // a deleted resource answers 404; its other attributes are no longer the IdP's to see
    if (!u.displayName.has(row.display_name ?? '')) out.stateMismatches.push(`${where}: displayName=${row.display_name}, expected one of ${[...u.displayName].join(" or ")}`);
    if (!u.active.has(row.active)) out.stateMismatches.push(`${where}: active=${row.active}, expected ${[...u.active].join(" or ")}`);
    for (const g of tenant.groups) {
      const expected = u.groups.get(g) ?? new Set([false]);
      if (!expected.has(memberOf.has(`${g}/${u.id}`))) out.stateMismatches.push(`${where}: member of ${g}=${memberOf.has(`${g}/${u.id}`)}, expected ${[...expected].join(" or ")}`);
    }
  }
  for (const row of rows.rows) if (!tenant.users.has(row.id) && !tenant.unknownCreates.has(row.user_name)) out.phantomUsers++;
}

async function checkStreams(db: pg.Pool, tenant: TenantModel, out: ChaosVerification) {
  // Gapless, delivered and applied: outbox seqs 1..event_seq, each delivered, applied_seq = event_seq.
  const streams = await db.query<{ stream_type: string; stream_id: string; n: number; max: number; undelivered: number; event_seq: number; applied_seq: number }>(
    `SELECT o.stream_type, o.stream_id::text, count(*)::int AS n, max(o.seq)::int AS max,
            count(*) FILTER (WHERE o.delivered_at IS NULL)::int AS undelivered,
            coalesce(u.event_seq, g.event_seq)::int AS event_seq, coalesce(u.applied_seq, g.applied_seq)::int AS applied_seq
       FROM outbox o
       LEFT JOIN users u ON o.stream_type = 'user' AND u.tenant_id = o.tenant_id AND u.id = o.stream_id
       LEFT JOIN groups g ON o.stream_type = 'group' AND g.tenant_id = o.tenant_id AND g.id = o.stream_id
      WHERE o.tenant_id = $1
      GROUP BY o.stream_type, o.stream_id, u.event_seq, g.event_seq, u.applied_seq, g.applied_seq`,
    [tenant.id],
  );
  for (const s of streams.rows) {
    if (s.n !== s.max || s.max !== s.event_seq || s.undelivered > 0 || s.applied_seq !== s.event_seq) {
      out.streamOrderViolations.push(`tenant ${tenant.index} ${s.stream_type} ${s.stream_id}: ${s.n} rows, max seq ${s.max}, event_seq ${s.event_seq}, applied ${s.applied_seq}, undelivered ${s.undelivered}`);
    }
  }
  // Applied exactly once: every change on a user's stream left one lifecycle audit row (its seq),
  // and no lifecycle event (joiner, leaver, deletion) was emitted twice for one identity.
  const applied = await db.query<{ stream_id: string; seq: number; n: number }>(
    `SELECT o.stream_id::text, o.seq::int, count(a.id)::int AS n
       FROM outbox o
       LEFT JOIN audit_events a ON a.tenant_id = o.tenant_id AND a.target_type = 'user' AND a.target_id = o.stream_id::text
                               AND a.action LIKE 'lifecycle.%' AND (a.data->>'seq')::bigint = o.seq
      WHERE o.tenant_id = $1 AND o.stream_type = 'user'
      GROUP BY o.stream_id, o.seq
     HAVING count(a.id) <> 1`,
    [tenant.id],
  );
  for (const a of applied.rows) out.exactlyOnceViolations.push(`tenant ${tenant.index} user ${a.stream_id} seq ${a.seq}: applied ${a.n} times`);
  const twice = await db.query<{ subject_id: string; type: string; n: number }>(
    `SELECT subject_id::text, type, count(*)::int AS n FROM events
      WHERE tenant_id = $1 AND type IN ('user.provisioned', 'user.suspended', 'user.deleted') GROUP BY 1, 2 HAVING count(*) > 1`,
    [tenant.id],
  );
  for (const e of twice.rows) out.exactlyOnceViolations.push(`tenant ${tenant.index} user ${e.subject_id}: ${e.type} ${e.n} times`);
}

async function checkWebhooks(db: pg.Pool, tenant: TenantModel, received: ReceivedWebhook[], out: ChaosVerification) {
  const emitted = await db.query<{ id: string; subject_id: string }>(`SELECT id::text, subject_id::text FROM events WHERE tenant_id = $1 ORDER BY created_at, id`, [tenant.id]);
  out.webhookEvents += emitted.rows.length;
  const mine = received.filter((r) => r.endpoint === String(tenant.index));
  const seen = new Map<string, number>();
  for (const r of mine) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
  for (const [id, n] of seen) {
    if (n < 2) continue;
    out.duplicateWebhookIds++;
    const copies = mine.filter((r) => r.id === id);
    out.duplicates.push({ id, type: copies[0]!.type, at: copies.map((r) => r.at) });
  }
  const expectedBySubject = new Map<string, string[]>();
  for (const e of emitted.rows) {
    if (!seen.has(e.id)) out.undeliveredWebhooks++;
    expectedBySubject.set(e.subject_id, [...(expectedBySubject.get(e.subject_id) ?? []), e.id]);
  }
  const firstSeenBySubject = new Map<string, string[]>();
  const first = new Set<string>();
  for (const r of mine) {
    if (first.has(r.id)) continue;
    first.add(r.id);
    firstSeenBySubject.set(r.subject, [...(firstSeenBySubject.get(r.subject) ?? []), r.id]);
  }
  for (const [subject, expected] of expectedBySubject) {
    const got = firstSeenBySubject.get(subject) ?? [];
    if (got.join() !== expected.filter((id) => seen.has(id)).join()) out.streamOrderViolations.push(`tenant ${tenant.index} subject ${subject}: webhooks first seen out of emission order`);
  }
}
