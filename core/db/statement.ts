import pg from 'pg';
import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  CheckExclusionConstraintViolationError,
  CheckIntegrityConstraintViolationError,
  ConnectionError,
  DataIntegrityError,
  ForeignKeyIntegrityConstraintViolationError,
  InvalidInputError,
  NotNullIntegrityConstraintViolationError,
  type QuerySqlToken,
  SchemaValidationError,
  StatementCancelledError,
  StatementTimeoutError,
  UniqueIntegrityConstraintViolationError,
} from 'slonik';
import type { z, ZodTypeAny } from 'zod';

/**
 * One statement in its own implicit transaction (no BEGIN, no session state), typed and checked
 * like any other query: the SQL is a slonik `sql.type(schema)` token and every row is parsed with
 * its schema. For the SCIM hot path's one-statement functions (scim_user_by_name_key,
 * scim_create_user), which set the tenant for their own implicit transaction.
 */
export interface Statements {
  any<T extends ZodTypeAny>(query: QuerySqlToken<T>): Promise<readonly z.infer<T>[]>;
  /** At most one row (more is a DataIntegrityError, as in slonik). */
  maybeOne<T extends ZodTypeAny>(query: QuerySqlToken<T>): Promise<z.infer<T> | null>;
}

export interface StatementPoolOptions {
  url: string;
  /** Connections of this pool (opened on demand, closed after `idleTimeoutMs` idle). */
  size: number;
  /** The same type parsers as the slonik pool (core/db/pool.ts `typeParsers`). */
  typeParsers: readonly { name: string; parse: (value: string) => unknown }[];
  statementTimeoutMs: number;
  connectionTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export interface StatementPool extends Statements {
  end(): Promise<void>;
}

/**
 * The lean executor: a node-postgres pool and nothing between it and the statement. Slonik's
 * per-query machinery (a child logger, a random query id, an OpenTelemetry span, the interceptor
 * chain, and the AsyncLocalStorage of its transaction context, which makes Node install promise
 * hooks on every promise of the process) costs more API CPU than the rest of a `userName eq`
 * lookup. What slonik gave that callers rely on is kept: the same type parsers, rows checked with
 * the token's zod schema (SchemaValidationError), and slonik's error classes (a unique violation is
 * UniqueIntegrityConstraintViolationError, a lost or refused connection BackendTerminated*Error /
 * ConnectionError), so `withRetry`, `sqlState`, `retryAfterSeconds` and the SCIM error mapping
 * treat both paths alike.
 */
export async function createStatementPool(options: StatementPoolOptions): Promise<StatementPool> {
  const config = { connectionString: options.url, application_name: 'roster-statements' };
  const getTypeParser = await typeParserLookup(config, options.typeParsers);
  const pool = new pg.Pool({
    ...config,
    max: options.size,
    idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    statement_timeout: options.statementTimeoutMs,
    types: { getTypeParser },
  });
  // An idle client whose server went away (a PostgreSQL restart): the pool drops it; the next
  // statement connects afresh. Without a listener the 'error' event would end the process.
  pool.on('error', () => {});

  // Each statement text is prepared once per connection (a named statement: PostgreSQL parses and
  // plans it once, later executions only bind). The statements that come here are a handful of
  // fixed texts; past PREPARED_MAX distinct texts the rest run unnamed, so nothing grows unbounded.
  const names = new Map<string, { name?: string; text: string }>();
  const prepared = (sql: string) => {
    let q = names.get(sql);
    if (!q) {
      // The sql tag numbers placeholders `$slonik_N` (so fragments compose); PostgreSQL wants `$N`.
      const text = sql.replaceAll('$slonik_', '$');
      q = names.size < PREPARED_MAX ? { name: `roster_${names.size + 1}`, text } : { text };
      if (names.size < PREPARED_MAX) names.set(sql, q);
    }
    return q;
  };

  async function rows<T extends ZodTypeAny>(query: QuerySqlToken<T>): Promise<z.infer<T>[]> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw slonikError(err as Error);
    }
    let result: pg.QueryResult;
    try {
      result = await client.query({ ...prepared(query.sql), values: query.values as unknown[] });
      client.release();
    } catch (err) {
      // pool.query would discard the connection on any error; a statement PostgreSQL refused (a
      // 409's unique violation) leaves it clean, so only a broken one is dropped.
      client.release(keepsConnection(err) ? undefined : (err as Error));
      throw slonikError(err as Error);
    }
    const out: z.infer<T>[] = [];
    for (const row of result.rows as Record<string, unknown>[]) {
      const parsed = query.parser.safeParse(row);
      if (!parsed.success) throw new SchemaValidationError(query, row as never, parsed.error.issues);
      out.push(parsed.data as z.infer<T>);
    }
    return out;
  }

  return {
    any: rows,
    async maybeOne(query) {
      const found = await rows(query);
      if (found.length > 1) throw new DataIntegrityError(query);
      return found[0] ?? null;
    },
    end: () => pool.end(),
  };
}

const PREPARED_MAX = 64;

/** Resolves the parsers' type names to OIDs (arrays included) once, as slonik's pg driver does. */
async function typeParserLookup(config: pg.ClientConfig, parsers: StatementPoolOptions['typeParsers']) {
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new ConnectionError((err as Error).message, { cause: err as Error });
  }
  let types: { oid: number; typarray: number; typname: string }[];
  try {
    types = (await client.query('SELECT oid::int, typarray::int, typname FROM pg_type WHERE typname = ANY($1::text[])', [parsers.map((p) => p.name)])).rows;
  } finally {
    await client.end();
  }
  const textArray = pg.types.getTypeParser(1009 as Parameters<typeof pg.types.getTypeParser>[0], 'text') as (value: string) => (string | null)[]; // text[]
  const byOid = new Map<number, (value: string) => unknown>();
  for (const p of parsers) {
    const t = types.find((x) => x.typname === p.name);
    if (!t) throw new Error(`Database type "${p.name}" not found.`);
    byOid.set(t.oid, p.parse);
    if (t.typarray) byOid.set(t.typarray, (value: string) => textArray(value).map((v) => (v === null ? null : p.parse(v))));
  }
  const builtin = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown;
  return (oid: number, format?: 'text' | 'binary') => byOid.get(oid) ?? builtin(oid, format);
}

/**
 * Whether a connection is still fit after this error: PostgreSQL answered with an error and the
 * implicit transaction ended at Sync. Not after a lost connection (08, 57P), nor after a prepared
 * statement whose result type a migration changed ("cached plan must not change result type",
 * 0A000): a fresh connection prepares it again.
 */
function keepsConnection(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return false;
  const code = err.code ?? '';
  return code !== '0A000' && !/^(08|57P)/.test(code);
}

/** node-postgres errors as slonik's pg driver wraps them (same classes, the original as cause). */
function slonikError(error: Error): Error {
  const message = error.message.toLowerCase();
  // Every connection busy for connectionTimeoutMs (pg-pool's own message, no code): transient, as
  // a connection that cannot be made is.
  if (message.includes('timeout exceeded when trying to connect')) return new ConnectionError(error.message, { cause: error });
  if (message.includes('connection terminated unexpectedly')) return new BackendTerminatedUnexpectedlyError(error);
  if (message.includes('connection terminated')) return new BackendTerminatedError(error);
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  // Refused or reset while connecting: slonik raises ConnectionError with the socket error as cause.
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') return new ConnectionError(error.message, { cause: error });
  const e = error as pg.DatabaseError;
  switch (code) {
    case '22P02':
      return new InvalidInputError(error.message);
    case '57P01':
      return new BackendTerminatedError(error);
    case '57014':
      return error.message.includes('canceling statement due to user request') ? new StatementCancelledError(error) : new StatementTimeoutError(error);
    case '23502':
      return new NotNullIntegrityConstraintViolationError(e);
    case '23503':
      return new ForeignKeyIntegrityConstraintViolationError(e);
    case '23505':
      return new UniqueIntegrityConstraintViolationError(e);
    case '23P01':
      return new CheckExclusionConstraintViolationError(e);
    case '23514':
      return new CheckIntegrityConstraintViolationError(e);
    default:
      return error;
  }
}
