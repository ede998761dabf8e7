import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { type ConnectionActivity, errorRate, ScimRequestError } from './activity-schema.js';

export { ConnectionActivity, ScimRequestError, errorRate } from './activity-schema.js';

/** One answered SCIM request of an authenticated connection. */
export interface ScimRequestOutcome {
  tenantId: string;
  connectionId: string;
  status: number;
  method: string;
  /** Without the query string (filters carry userNames and emails). */
  path: string;
  scimType?: string | undefined;
  detail?: string | undefined;
}

export interface ScimActivityRecorderOptions {
  db: Db;
  /** How often the counts gathered since the last flush are written (one statement). */
  flushIntervalMs: number;
  logger?: { warn(obj: unknown, msg: string): void };
  now?: () => number;
}

interface Count {
  tenant: string;
  connection: string;
  /** Start of the minute, epoch ms. */
  bucket: number;
  requests: number;
  errors: number;
  /** Epoch ms of the last request counted here. */
  last: number;
}

interface ErrorEntry {
  tenant: string;
  connection: string;
  at: string;
  method: string;
  path: string;
  status: number;
  scimType: string | null;
  detail: string | null;
}

/** Errors kept per connection, in memory between flushes and in the database. */
export const RECENT_ERRORS_KEPT = 50;
/** Bound on what a process holds while the database is unreachable (minutes × connections). */
const MAX_PENDING_COUNTS = 20_000;
const MINUTE = 60_000;

/**
 * Counts SCIM requests per connection and minute in memory and writes them every
 * `flushIntervalMs` (and on close) with one statement for all tenants, so recording costs the
 * request no database round trip. Error answers are kept with their details, at most
 * RECENT_ERRORS_KEPT per connection between flushes. A failed flush keeps its counts for the next
 * one (bounded); recording never throws into the request.
 */
export class ScimActivityRecorder {
  private counts = new Map<string, Count>();
  private errors = new Map<string, ErrorEntry[]>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ScimActivityRecorderOptions) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  record(outcome: ScimRequestOutcome): void {
    if (this.closed) return;
    const now = this.now();
    const bucket = now - (now % MINUTE);
    const key = `${outcome.connectionId}/${bucket}`;
    const isError = outcome.status >= 400;
    const count = this.counts.get(key);
    if (count) {
      count.requests++;
      if (isError) count.errors++;
      count.last = now;
    } else if (this.counts.size < MAX_PENDING_COUNTS) {
      this.counts.set(key, { tenant: outcome.tenantId, connection: outcome.connectionId, bucket, requests: 1, errors: isError ? 1 : 0, last: now });
    }
    if (!isError) return;
    const list = this.errors.get(outcome.connectionId) ?? [];
    if (list.length >= RECENT_ERRORS_KEPT) list.shift();
    list.push({
      tenant: outcome.tenantId,
      connection: outcome.connectionId,
      at: new Date(now).toISOString(),
      method: outcome.method,
      path: outcome.path,
      status: outcome.status,
      scimType: outcome.scimType ?? null,
      detail: outcome.detail ?? null,
    });
    this.errors.set(outcome.connectionId, list);
  }

  /** Writes what was recorded since the last flush; concurrent calls share one write. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.counts.size === 0 && this.errors.size === 0) return;
    const counts = this.counts;
    const errors = this.errors;
    this.counts = new Map();
    this.errors = new Map();
    this.flushing = this.write(counts, errors).finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async write(counts: Map<string, Count>, errors: Map<string, ErrorEntry[]>): Promise<void> {
    const countRows = [...counts.values()].map((c) => ({
      tenant: c.tenant,
      connection: c.connection,
      bucket: new Date(c.bucket).toISOString(),
      requests: c.requests,
      errors: c.errors,
      last: new Date(c.last).toISOString(),
    }));
    const errorRows = [...errors.values()].flat();
    try {
      await this.options.db.query(sql.unsafe`
        SELECT scim_activity_flush(${sql.jsonb(countRows)}, ${sql.jsonb(errorRows as unknown as Parameters<typeof sql.jsonb>[0])})`);
    } catch (err) {
      this.options.logger?.warn({ err }, 'could not record SCIM connection activity; keeping it for the next flush');
      this.restore(counts, errors);
    }
  }

  private restore(counts: Map<string, Count>, errors: Map<string, ErrorEntry[]>): void {
    if (this.closed) return;
    for (const [key, c] of counts) {
      const current = this.counts.get(key);
      if (current) {
        current.requests += c.requests;
        current.errors += c.errors;
        current.last = Math.max(current.last, c.last);
      } else if (this.counts.size < MAX_PENDING_COUNTS) {
        this.counts.set(key, c);
      }
    }
    for (const [connection, list] of errors) {
      const merged = [...list, ...(this.errors.get(connection) ?? [])].slice(-RECENT_ERRORS_KEPT);
      this.errors.set(connection, merged);
    }
  }

  /** Stops the timer and writes what is left (call before the pool ends). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }
}

const ActivityRow = z.object({
  connection_id: z.string().uuid(),
  last_request_at: z.string().nullable(),
  requests_1h: z.number(),
  errors_1h: z.number(),
});

/**
 * Every SCIM connection of the tenant (revoked ones too) with its last request and its last hour.
 * Counts reach the database within the recorders' flush interval.
 */
export async function connectionActivity(tx: Tx, tenantId: string): Promise<ConnectionActivity[]> {
  const rows = await tx.any(sql.type(ActivityRow)`
    SELECT c.id AS connection_id, a.last_request_at,
           coalesce(b.requests, 0)::int AS requests_1h, coalesce(b.errors, 0)::int AS errors_1h
      FROM scim_connections c
      LEFT JOIN scim_connection_activity a ON a.tenant_id = c.tenant_id AND a.connection_id = c.id
      LEFT JOIN LATERAL (
        SELECT sum(k.requests) AS requests, sum(k.errors) AS errors FROM scim_activity_buckets k
         WHERE k.tenant_id = c.tenant_id AND k.connection_id = c.id
           AND k.bucket >= date_trunc('minute', now() - interval '1 hour')) b ON true
     WHERE c.tenant_id = ${tenantId}
     ORDER BY c.created_at, c.id`);
  return rows.map((r) => ({
    connectionId: r.connection_id,
    lastRequestAt: r.last_request_at,
    requests1h: r.requests_1h,
    errors1h: r.errors_1h,
    errorRate1h: errorRate(r.requests_1h, r.errors_1h),
  }));
}

const ErrorRow = z.object({
  occurred_at: z.string(),
  method: z.string(),
  path: z.string(),
  status: z.number(),
  scim_type: z.string().nullable(),
  detail: z.string().nullable(),
});

/** The connection's most recent error answers, newest first (at most RECENT_ERRORS_KEPT are kept). */
export async function recentScimErrors(tx: Tx, tenantId: string, connectionId: string, limit = RECENT_ERRORS_KEPT): Promise<ScimRequestError[]> {
  const rows = await tx.any(sql.type(ErrorRow)`
    SELECT occurred_at, method, path, status, scim_type, detail FROM scim_request_errors
     WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId}
     ORDER BY id DESC LIMIT ${Math.max(1, Math.min(limit, RECENT_ERRORS_KEPT))}`);
  return rows.map((r) => ScimRequestError.parse({ at: r.occurred_at, method: r.method, path: r.path, status: r.status, scimType: r.scim_type, detail: r.detail }));
}
