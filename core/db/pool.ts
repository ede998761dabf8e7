import {
  createPool,
  createTypeParserPreset,
  type DatabasePool,
  type DatabaseTransactionConnection,
  type Interceptor,
  SchemaValidationError,
  sql,
} from 'slonik';

export type { DatabasePool, DatabaseTransactionConnection };
export type Db = DatabasePool;
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

/** timestamptz as ISO-8601 strings (what SCIM and JSON want), int8 as numbers. */
const typeParsers = [
  ...createTypeParserPreset().filter((p) => !['timestamptz', 'timestamp', 'int8'].includes(p.name)),
  { name: 'timestamptz', parse: (value: string) => new Date(value).toISOString() },
  { name: 'timestamp', parse: (value: string) => new Date(`${value}Z`).toISOString() },
  { name: 'int8', parse: (value: string) => Number.parseInt(value, 10) },
];

export interface PoolOptions {
  maximumPoolSize?: number;
  statementTimeoutMs?: number;
}

export async function createDatabasePool(url: string, options: PoolOptions = {}): Promise<DatabasePool> {
  return createPool(url, {
    interceptors: [resultParserInterceptor],
    typeParsers,
    maximumPoolSize: options.maximumPoolSize ?? 20,
    statementTimeout: options.statementTimeoutMs ?? 30_000,
    idleTimeout: 10_000,
    connectionTimeout: 10_000,
    // slonik's default sends DISCARD ALL whenever a connection returns to the pool: two extra round
    // trips per request. Nothing here sets session state (the tenant is transaction-local).
    resetConnection: async () => {},
  });
}

/**
 * Runs `fn` in one transaction scoped to `tenantId`: row-level security sees only that tenant.
 * The setting is transaction-local, so a pooled connection never carries it to the next user.
 */
export async function withTenant<T>(pool: DatabasePool, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT set_config('app.tenant_id', ${tenantId}, true)`);
    return fn(tx);
  });
}
