import pg from 'pg';

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface LoopResult {
  ops: number;
  opsPerSec: number;
  errors: number;
  firstError?: string;
  p50: number;
  p99: number;
  durationSec: number;
}

/**
 * The raw-driver ceiling: `concurrency` dedicated connections, each running `op` back to back
 * for `durationSec` after `warmupSec` (not counted). No pool checkout, no ORM, no HTTP.
 */
export async function runPgLoop(options: {
  url: string;
  concurrency: number;
  warmupSec: number;
  durationSec: number;
  op: (client: pg.Client, worker: number, iteration: number) => Promise<void>;
}): Promise<LoopResult> {
  const clients = await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      const c = new pg.Client({ connectionString: options.url });
      await c.connect();
      return c;
    }),
  );
  try {
    const phase = async (seconds: number, record: boolean) => {
      const latencies: number[] = [];
      let errors = 0;
      let firstError: string | undefined;
      const start = performance.now();
      const end = start + seconds * 1000;
      let iteration = 0;
      await Promise.all(
        clients.map(async (client, worker) => {
          while (performance.now() < end) {
            const t0 = performance.now();
            try {
              await options.op(client, worker, iteration++);
              if (record) latencies.push(performance.now() - t0);
            } catch (err) {
              errors++;
              firstError ??= err instanceof Error ? err.message : String(err);
              await client.query('ROLLBACK').catch(() => {});
            }
          }
        }),
      );
      return { latencies, errors, firstError, elapsed: (performance.now() - start) / 1000 };
    };
    if (options.warmupSec > 0) await phase(options.warmupSec, false);
    const { latencies, errors, firstError, elapsed } = await phase(options.durationSec, true);
    const sorted = Float64Array.from(latencies).sort();
    return {
      ops: sorted.length,
      opsPerSec: sorted.length / elapsed,
      errors,
      ...(firstError ? { firstError } : {}),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      durationSec: elapsed,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

/** The SCIM create as Roster writes it, by hand: one transaction, six round trips, RLS in force. */
export async function ceilingCreate(client: pg.Client, tenantId: string, connectionId: string, userName: string): Promise<void> {
  const user = {
    userName,
    name: { givenName: 'Bench', familyName: userName },
    displayName: `Bench ${userName}`,
    emails: [{ value: `${userName}@bench.example`, type: 'work', primary: true }],
    active: true,
  };
  await client.query('BEGIN');
  await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
  const inserted = await client.query<{ id: string; event_seq: string }>(
    `INSERT INTO users (tenant_id, user_name, user_name_key, external_id, active, lifecycle_state, display_name, name,
                        emails, phone_numbers, enterprise, attributes, event_seq)
     VALUES ($1, $2, $3, NULL, true, 'provisioned', $4, $5::jsonb, $6::jsonb, '[]'::jsonb, NULL, '{}'::jsonb, 1)
     RETURNING id, event_seq`,
    [tenantId, userName, userName.toLowerCase(), user.displayName, JSON.stringify(user.name), JSON.stringify(user.emails)],
  );
  const id = inserted.rows[0]!.id;
  await client.query(
    `INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, request_id, data)
     VALUES ($1, 'scim', $2, 'user.created', 'user', $3, $4, $5::jsonb)`,
    [tenantId, connectionId, id, `bench-${userName}`, JSON.stringify({ after: user })],
  );
  await client.query(
    `INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload)
     VALUES ($1, 'user', $2, 1, 'user.created', '{"active":true}'::jsonb)`,
    [tenantId, id],
  );
  await client.query('COMMIT');
}

const LOOKUP_SQL = `SELECT tenant_id, id, user_name, external_id, active, lifecycle_state, provisioned_at, activated_at,
  suspended_at, deleted_at, scim_deleted_at, display_name, name, emails, phone_numbers, enterprise, attributes, version,
  event_seq, applied_seq, created_at, updated_at
  FROM users WHERE tenant_id = $1 AND user_name_key = $2 AND scim_deleted_at IS NULL`;

/** The indexed userName lookup, one statement (owner role: no RLS, no transaction). */
export async function ceilingLookup(client: pg.Client, tenantId: string, userNameKey: string): Promise<void> {
  const res = await client.query(LOOKUP_SQL, [tenantId, userNameKey]);
  if (res.rowCount !== 1) throw new Error(`lookup of ${userNameKey} found ${res.rowCount} rows`);
}

/**
 * Loads `count` users named `${prefix}${1..count}` into one tenant with a single INSERT … SELECT
 * (owner role), then ANALYZE. user_name_key = lower(user_name), which equals foldKey for ASCII.
 */
export async function bulkLoadUsers(ownerUrl: string, tenantId: string, prefix: string, count: number): Promise<number> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  const t0 = performance.now();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    await client.query(
      `INSERT INTO users (tenant_id, user_name, user_name_key, display_name, name, emails)
       SELECT $1, $2 || g, lower($2 || g), 'Bench User ' || g,
              jsonb_build_object('givenName', 'Bench', 'familyName', 'User ' || g),
              jsonb_build_array(jsonb_build_object('value', $2 || g || '@bench.example', 'type', 'work', 'primary', true))
         FROM generate_series(1, $3::int) AS g`,
      [tenantId, prefix, count],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE users');
  } finally {
    await client.end();
  }
  return (performance.now() - t0) / 1000;
}

/** Ids of the bulk-loaded users (for PATCH targets). */
export async function userIds(ownerUrl: string, tenantId: string, limit: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    const res = await client.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1 ORDER BY user_name LIMIT $2', [tenantId, limit]);
    await client.query('COMMIT');
    return res.rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}
