import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.js';
import { domainErrorFromDatabase } from '../../core/shared/db-errors.js';
import { startStack, type TestStack } from '../helpers/stack.js';

// The one database-error → domain-error map, fed with errors PostgreSQL really raises.
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
  await stack.owner.query(sql.unsafe`
    CREATE TABLE dbe_parent (id int PRIMARY KEY, v int CHECK (v > 0), name text NOT NULL DEFAULT 'x', code varchar(3))`);
  await stack.owner.query(sql.unsafe`CREATE TABLE dbe_child (id int PRIMARY KEY, parent int REFERENCES dbe_parent (id))`);
  await stack.owner.query(sql.unsafe`INSERT INTO dbe_parent (id, v) VALUES (1, 1)`);
  await stack.owner.query(sql.unsafe`INSERT INTO dbe_child (id, parent) VALUES (1, 1)`);
});
afterAll(async () => stack?.close());

async function mapped(statement: ReturnType<typeof sql.unsafe>): Promise<DomainError | undefined> {
  const err: unknown = await stack.owner.query(statement).then(
    () => {
      throw new Error('statement succeeded');
    },
    (e: unknown) => e,
  );
  return domainErrorFromDatabase(err);
}

describe('PostgreSQL errors → domain errors', () => {
  it.each([
    ['unique (23505)', sql.unsafe`INSERT INTO dbe_parent (id, v) VALUES (1, 2)`, 409, 'conflict'],
    ['foreign key, missing parent (23503)', sql.unsafe`INSERT INTO dbe_child (id, parent) VALUES (2, 99)`, 422, 'invalid_reference'],
    ['foreign key, still referenced (23503)', sql.unsafe`DELETE FROM dbe_parent WHERE id = 1`, 409, 'in_use'],
    ['check (23514)', sql.unsafe`INSERT INTO dbe_parent (id, v) VALUES (3, -1)`, 422, 'invalid_value'],
    ['not null (23502)', sql.unsafe`INSERT INTO dbe_parent (id, v, name) VALUES (4, 1, NULL)`, 422, 'invalid_value'],
    ['invalid text (22P02)', sql.unsafe`SELECT 'not-a-uuid'::uuid`, 400, 'invalid_request'],
    ['invalid datetime (22007)', sql.unsafe`SELECT 'yesterday-ish'::timestamptz`, 400, 'invalid_request'],
    ['too long (22001)', sql.unsafe`INSERT INTO dbe_parent (id, v, code) VALUES (5, 1, 'abcdef')`, 400, 'invalid_request'],
  ])('%s', async (_name, statement, status, code) => {
    const e = await mapped(statement);
    expect(e).toBeInstanceOf(DomainError);
    expect(e).toMatchObject({ status, code });
    // Never the database's own words: no table, constraint or value.
    expect(e!.message).not.toMatch(/dbe_|violates|Key \(/);
  });

  it('leaves transient states (40001, 40P01), server faults and non-database errors unmapped', async () => {
    expect(domainErrorFromDatabase({ code: '40001' })).toBeUndefined();
    expect(domainErrorFromDatabase({ code: '40P01' })).toBeUndefined();
    expect(await mapped(sql.unsafe`SELECT * FROM no_such_table`)).toBeUndefined();
    expect(domainErrorFromDatabase(new Error('boom'))).toBeUndefined();
  });
});
