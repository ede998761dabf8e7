import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  createPool,
  createTypeParserPreset,
  type DatabasePool,
  type DatabaseTransactionConnection,
  type FragmentSqlToken,
  type Interceptor,
  SchemaValidationError,
  sql,
} from 'slonik';
import { z } from 'zod';
import { activeTracer, inSpan, SpanKind } from '../telemetry.js';
import { forgetLocks, LockOrderRetry } from './locks.js';
import { createStatementPool, type Statements } from './statement.js';

export type { DatabasePool, DatabaseTransactionConnection, Statements };
/**
 * The database of a process: slonik's pool (transactions, everything else) and `statements`, the
 * lean executor for statements that run in their own implicit transaction (core/db/statement.ts).
 */
export type Db = DatabasePool & { readonly statements: Statements };
export type Tx = DatabaseTransactionConnection;

/**
 * Checks every row of a `sql.type(schema)` query against its zod schema (slonik's documented
 * result-parser interceptor): a drift between code and database fails loudly instead of leaking
 * wrong shapes inward.
 */
const resultParserInterceptor: Interceptor = {
  name: 'result-parser',
  transformRow: (context, query, row) => {
    if (!context.resultParser) return row;
    const parsed = context.resultParser.safeParse(row);
    if (!parsed.success) throw new SchemaValidationError(query, row, parsed.error.issues);
    return parsed.data as typeof row;
  },
};

/** timestamptz as ISO-8601 strings (what SCIM and JSON want), int8 as numbers. Both executors use these. */
export const typeParsers = [
  ...createTypeParserPreset().filter((p) => !['timestamptz', 'timestamp', 'int8'].includes(p.name)),
  { name: 'timestamptz', parse: (value: string) => new Date(value).toISOString() },
  { name: 'timestamp', parse: (value: string) => new Date(`${value}Z`).toISOString() },
  { name: 'int8', parse: (value: string) => Number.parseInt(value, 10) },
];

export interface PoolOptions {
  /** Connections in all, the statement pool's included. */
  maximumPoolSize?: number;
  /**
   * Connections of them reserved for `db.statements` (core/db/statement.ts), opened on demand; the
   * slonik pool gets the rest (at least half). 0 (the default): `statements` runs through slonik.
   */
  statementPoolSize?: number;
  statementTimeoutMs?: number;
}

export async function createDatabasePool(url: string, options: PoolOptions = {}): Promise<Db> {
  const total = options.maximumPoolSize ?? 20;
  // Slonik keeps at least half (transactions, everything but the hot path's statements).
  const statementPoolSize = Math.min(options.statementPoolSize ?? 0, Math.floor(total / 2));
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const pool = await createPool(url, {
    interceptors: [resultParserInterceptor],
    typeParsers,
    maximumPoolSize: total - Math.max(0, statementPoolSize),
    statementTimeout: statementTimeoutMs,
    idleTimeout: 10_000,
    connectionTimeout: 10_000,
    // withTenant owns retries (with jitter, a bounded budget, and a fresh lock ledger per attempt);
    // slonik's own would re-run transactions immediately, and multiply with ours.
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
    // slonik's default sends DISCARD ALL whenever a connection returns to the pool: two extra round
    // trips per request. Nothing here sets session state (the tenant is transaction-local).
    resetConnection: async () => {},
  });
  if (statementPoolSize <= 0) return Object.assign(pool, { statements: { any: pool.any, maybeOne: pool.maybeOne } });
  const statements = await createStatementPool({ url, size: statementPoolSize, typeParsers, statementTimeoutMs }).catch(async (err: unknown) => {
    await pool.end();
    throw err;
  });
  const endPool = pool.end;
  // Closing the database closes both pools: every caller of `db.end()` (api/server.ts, scripts/start.ts, tests) stays as it was.
  return Object.assign(pool, {
    statements,
    end: async () => {
      await Promise.all([endPool(), statements.end()]);
    },
  });
}

/** The SQLSTATE of a database error, looking through slonik's wrappers. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/**
 * The database stayed contended after every retry (or is unreachable): the request may be repeated
 * as it was. Surfaces answer 503 with Retry-After; nothing of the transaction was written.
 */
export class TransientDatabaseError extends Error {
  override readonly name = 'TransientDatabaseError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Full-jitter exponential backoff: a random wait in [0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * A safety net, not the fix: the lock order (core/db/locks.ts) keeps SCIM writers from deadlocking
 * each other. What remains (a deadlock with a path outside that order, a serialisation failure, a
 * lock-order re-plan) is retried a bounded number of times with jitter, so concurrent retries do
 * not collide again in lock step.
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 5, maxDelayMs: 250 };

/** Why transactions were retried in this process, since it started (for metrics and tests). */
const retryCounts = { deadlock: 0, serialization: 0, lockOrder: 0, exhausted: 0 };
export const transactionRetryCounts = (): Readonly<typeof retryCounts> => ({ ...retryCounts });

function retryReason(err: unknown): 'deadlock' | 'serialization' | 'lockOrder' | undefined {
  if (err instanceof LockOrderRetry) return 'lockOrder';
  const state = sqlState(err);
  if (state === '40P01') return 'deadlock';
  if (state === '40001') return 'serialization';
  return undefined;
}

/**
 * Runs `attempt` again when PostgreSQL aborted it as a deadlock or serialisation failure, or the
 * lock ledger asked for a re-plan (so `attempt` must be one transaction or one statement, with no
 * effects outside the database); when retries run out the caller gets a `TransientDatabaseError`.
 */
export function withRetry<T>(attempt: () => Promise<T>, retry: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  // Tracing off: one check, nothing allocated (core/telemetry.ts).
  if (activeTracer() === undefined) return retrying(attempt, retry);
  return inSpan('db.transaction', DB_TRANSACTION_SPAN, () => retrying(attempt, retry));
}

/** The span around one transaction (or one-statement write), its retries included. */
const DB_TRANSACTION_SPAN = { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } };

async function retrying<T>(attempt: () => Promise<T>, retry: RetryPolicy): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const reason = retryReason(err);
      if (!reason) throw err;
      retryCounts[reason]++;
      if (n >= retry.attempts) {
        retryCounts.exhausted++;
        throw new TransientDatabaseError(`transaction still conflicting after ${n} attempts`, 1, { cause: err });
      }
      const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (n - 1));
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
  }
}

/**
 * The tenant a transaction is scoped to: its id, or an SQL expression that yields it after checking
 * something in the same statement (e.g. scim_token_tenant: the SCIM token is still current).
 */
export type TenantRef = string | FragmentSqlToken;

/**
 * Runs `fn` in one transaction scoped to `tenantId`: row-level security sees only that tenant.
 * The setting is transaction-local, so a pooled connection never carries it to the next user.
 * Retried whole by `withRetry`; each attempt starts with an empty lock ledger.
 */
export async function withTenant<T>(pool: DatabasePool, tenantId: TenantRef, fn: (tx: Tx) => Promise<T>, retry: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  return withRetry(
    () =>
      pool.transaction(async (tx) => {
        forgetLocks(tx);
        await tx.query(sql.unsafe`SELECT set_config('app.tenant_id', ${tenantId}::text, true)`);
        return fn(tx);
      }),
    retry,
  );
}

/** The precondition given to withTenantChecked was false: nothing ran, nothing was written. */
export class PreconditionFailed extends Error {
  override readonly name = 'PreconditionFailed';
}

/**
 * withTenant with a precondition: `check` (a boolean SQL expression) is evaluated in the same
 * statement that scopes the transaction to the tenant, so it costs no round trip of its own and
 * holds for everything `fn` then reads (a later statement sees at least that snapshot). When it is
 * false the transaction is rolled back before `fn` runs and `PreconditionFailed` is thrown.
 */
export async function withTenantChecked<T>(pool: DatabasePool, tenantId: TenantRef, check: FragmentSqlToken, fn: (tx: Tx) => Promise<T>, retry: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  return withRetry(
    () =>
      pool.transaction(async (tx) => {
        forgetLocks(tx);
        const { ok } = await tx.one(sql.type(CheckRow)`SELECT ${check} AS ok, set_config('app.tenant_id', ${tenantId}::text, true) AS tenant`);
        if (ok !== true) throw new PreconditionFailed('the precondition of this transaction does not hold');
        return fn(tx);
      }),
    retry,
  );
}
const CheckRow = z.object({ ok: z.boolean().nullable(), tenant: z.string() });

/** SQLSTATE classes of a database that is restarting or unreachable (not of a bad request). */
const UNAVAILABLE = /^(08|57P0[1-3]|53300)/;

/**
 * Seconds after which a request that failed this way may be repeated, or undefined when the error
 * is not a transient database condition. Surfaces answer these with 503 and Retry-After, never 500.
 */
export function retryAfterSeconds(err: unknown): number | undefined {
  if (err instanceof TransientDatabaseError) return err.retryAfterSeconds;
  const state = sqlState(err);
  if (state !== undefined && UNAVAILABLE.test(state)) return 2;
  // slonik's errors do not set `name` (it stays 'Error'): match the classes. A pool that cannot
  // connect while PostgreSQL restarts raises ConnectionError with the socket error as its cause.
  if (err instanceof ConnectionError || err instanceof BackendTerminatedError || err instanceof BackendTerminatedUnexpectedlyError) return 2;
  for (let e = err as { name?: unknown; code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.name === 'ConnectionError' || e.name === 'BackendTerminatedError' || e.name === 'BackendTerminatedUnexpectedlyError') return 2;
    if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET') return 2;
  }
  return undefined;
}
