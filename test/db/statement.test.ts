import { SchemaValidationError, sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appDatabaseUrl } from '../../core/config.js';
import { retryAfterSeconds, sqlState, typeParsers, withRetry } from '../../core/db/pool.js';
import { createStatementPool, type StatementPool } from '../../core/db/statement.js';
import { findUserByNameKey } from '../../core/repositories/users.js';
import { domainErrorFromDatabase } from '../../core/shared/db-errors.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { USER } from '../helpers/scim.js';

/**
 * The lean one-statement executor (core/db/statement.ts) must behave like the slonik pool wherever
 * callers can tell: row schemas are enforced, values come back through the same type parsers, and
 * errors carry the same classes, SQLSTATEs and transient-ness.
 */

let stack: TestStack;
let owner: StatementPool;
let app: StatementPool;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startStack();
  // One connection each, so a test can look at the very connection a statement ran on.
  owner = await createStatementPool({ url: stack.databaseUrl, size: 1, typeParsers, statementTimeoutMs: 5_000 });
  app = await createStatementPool({ url: appDatabaseUrl(stack.config), size: 1, typeParsers, statementTimeoutMs: 5_000 });
  await stack.owner.query(sql.unsafe`CREATE TABLE stmt_t (id int PRIMARY KEY)`);
  await stack.owner.query(sql.unsafe`INSERT INTO stmt_t VALUES (1)`);
  tenant = await stack.createTenant();
  expect((await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'lean@example.com' })).status).toBe(201);
});
afterAll(async () => {
  await owner?.end();
  await app?.end();
  await stack?.close();
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('statement succeeded');
    },
    (e: unknown) => e,
  );

describe('statement executor', () => {
  it('checks every row against the query schema, as the slonik pool does', async () => {
    const q = sql.type(z.object({ n: z.string() }))`SELECT 1 AS n`;
    const lean = await failure(owner.any(q));
    const slonik = await failure(stack.owner.any(q));
    expect(lean).toBeInstanceOf(SchemaValidationError);
    expect(slonik).toBeInstanceOf(SchemaValidationError);
    // A matching schema parses (and strips what it does not name).
    expect(await owner.any(sql.type(z.object({ n: z.number() }))`SELECT 1 AS n, 2 AS extra`)).toEqual([{ n: 1 }]);
  });

  it('parses values like the slonik pool (timestamptz and timestamp as ISO strings, int8 as numbers, arrays too)', async () => {
    const Row = z.object({ tz: z.string(), ts: z.string(), big: z.number(), tzs: z.array(z.string()), bigs: z.array(z.number()), none: z.string().nullable() });
    const q = sql.type(Row)`
      SELECT '2026-12-01 10:00:00+02'::timestamptz AS tz, '2026-12-01 10:00:00'::timestamp AS ts, 9007199254740991::int8 AS big,
             ARRAY['2026-12-01 10:00:00+00'::timestamptz] AS tzs, ARRAY[1, 2]::int8[] AS bigs, NULL::timestamptz AS none`;
    const lean = await owner.maybeOne(q);
    expect(lean).toEqual({ tz: '2026-12-01T08:00:00.000Z', ts: '2026-12-01T10:00:00.000Z', big: 9007199254740991, tzs: ['2026-12-01T10:00:00.000Z'], bigs: [1, 2], none: null });
    expect(lean).toEqual(await stack.owner.maybeOne(q));
  });

  it('maps a unique violation to the same error class, SQLSTATE and domain error as the slonik pool', async () => {
    const q = sql.unsafe`INSERT INTO stmt_t VALUES (1) RETURNING id`;
    const lean = await failure(owner.any(q));
    const slonik = await failure(stack.owner.any(q));
    expect(lean).toBeInstanceOf(UniqueIntegrityConstraintViolationError);
    expect(slonik).toBeInstanceOf(UniqueIntegrityConstraintViolationError);
    expect(sqlState(lean)).toBe('23505');
    expect(domainErrorFromDatabase(lean)).toMatchObject({ status: 409, code: 'conflict' });
    // The refused statement leaves its connection in the pool (no reconnect per 409).
    const Pid = z.object({ pid: z.number() });
    const before = await owner.maybeOne(sql.type(Pid)`SELECT pg_backend_pid() AS pid`);
    await failure(owner.any(q));
    expect(await owner.maybeOne(sql.type(Pid)`SELECT pg_backend_pid() AS pid`)).toEqual(before);
    // Over SCIM (scim_create_user on the executor): a taken userName is the usual 409.
    const again = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'LEAN@example.com' });
    expect(again.status).toBe(409);
    expect(again.body.scimType).toBe('uniqueness');
  });

  it('a connection PostgreSQL terminates (a restart) is transient, as on the slonik pool; the next statement reconnects', async () => {
    const terminate = async () => {
      await new Promise((r) => setTimeout(r, 200));
      await stack.owner.query(sql.unsafe`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' AND pid <> pg_backend_pid()`);
    };
    const sleep = sql.unsafe`SELECT pg_sleep(3) AS s`;
    const [lean] = await Promise.all([failure(app.any(sleep)), terminate()]);
    const [slonik] = await Promise.all([failure(stack.app.any(sleep)), terminate()]);
    expect(retryAfterSeconds(lean)).toBe(2);
    expect(retryAfterSeconds(slonik)).toBe(2);
    expect((lean as Error).constructor).toBe((slonik as Error).constructor);
    expect(await app.any(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`)).toEqual([{ ok: 1 }]);
  });

  it('a pool whose connections all stay busy past the connection timeout answers a transient error, not a 500', async () => {
    const tiny = await createStatementPool({ url: stack.databaseUrl, size: 1, typeParsers, statementTimeoutMs: 5_000, connectionTimeoutMs: 100 });
    try {
      const busy = tiny.any(sql.unsafe`SELECT pg_sleep(0.5)`);
      const waited = await failure(tiny.any(sql.unsafe`SELECT 1`));
      await busy;
      expect(retryAfterSeconds(waited)).toBe(2);
    } finally {
      await tiny.end();
    }
  });

  it('a lookup on the executor sees its tenant only, and leaves no tenant on the connection', async () => {
    await withRetry(async () => {
      expect((await findUserByNameKey(app, tenant.id, 'lean@example.com')).map((r) => r.tenant_id)).toEqual([tenant.id]);
    });
    expect(await findUserByNameKey(app, '00000000-0000-4000-8000-000000000000', 'lean@example.com')).toEqual([]);
    // Same (only) connection, next statement: no tenant set, so row-level security shows nothing.
    const after = await app.maybeOne(
      sql.type(z.object({ s: z.string().nullable(), n: z.number() }))`SELECT current_setting('app.tenant_id', true) AS s, (SELECT count(*)::int FROM users) AS n`,
    );
    expect(after?.s === null || after?.s === '').toBe(true);
    expect(after?.n).toBe(0);
  });
});
