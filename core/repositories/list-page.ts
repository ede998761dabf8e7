import { type FragmentSqlToken, type IdentifierSqlToken, sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';

/**
 * A row's position in a list's order (sort value, created_at, id): the keyset a page continues
 * from. Values are PostgreSQL's own text forms (`::text`), so they compare back exactly, to the
 * microsecond, whatever type the sort attribute has: an untyped parameter compared with a column
 * takes the column's type.
 */
export const Boundary = z.object({ sortKey: z.string().nullable(), createdAt: z.string(), id: z.string().uuid() });
export type Boundary = z.infer<typeof Boundary>;

export interface PageQuery {
  /** Tenant scope and filter, already compiled. */
  where: FragmentSqlToken;
  /** The compiled sortBy; undefined is the default order (created_at, id). */
  sortBy?: { expr: FragmentSqlToken; notNull: boolean } | undefined;
  descending: boolean;
  limit: number;
  /** Rows strictly after this position (keyset) ... */
  after?: Boundary | undefined;
  /** ... or strictly before it (a previous page), still returned in list order ... */
  before?: Boundary | undefined;
  /** ... or, without a position, skip this many rows (OFFSET: only on a boundary-cache miss). */
  offset?: number | undefined;
}

export interface ListScope {
  tenantId: string;
  /** Unfiltered lists take totalResults from the maintained count instead of counting. */
  filtered: boolean;
}

export interface Page<Row> {
  total: number;
  rows: readonly Row[];
  /** Positions of the first and last row (undefined on an empty page). */
  first?: Boundary | undefined;
  last?: Boundary | undefined;
  /** Whether rows exist beyond the page in the direction it was read (after, or before). */
  more: boolean;
}

/** Extra columns every paged query selects: the row's position. */
export const PositionColumns = z.object({ page_sort_key: z.string().nullable(), page_created_at: z.string() });

/**
 * The WHERE (keyset), ORDER BY and LIMIT of one page, in list order `ORDER BY sortBy NULLS LAST,
 * created_at, id` (RFC 7644 §3.4.2.3 leaves null placement to us; created_at, id make it total).
 * A previous page is read backwards (the same order reversed) and flipped by the caller.
 */
export function pageClauses(alias: 'u' | 'g', q: PageQuery) {
  const created = sql.identifier([alias, 'created_at']);
  const id = sql.identifier([alias, 'id']);
  const backwards = q.before !== undefined;
  const ascending = q.descending === backwards;
  const nullsLast = !backwards;
  const dir = ascending ? sql.fragment`ASC` : sql.fragment`DESC`;
  // No NULLS clause where the key cannot be NULL: a bare direction lets a backward scan of an
  // ascending index (tenant_id, created_at, id), (tenant_id, user_name_key), … serve descending
  // pages too.
  const nulls = !q.sortBy || q.sortBy.notNull ? sql.fragment`` : nullsLast ? sql.fragment`NULLS LAST` : sql.fragment`NULLS FIRST`;
  const orderBy = q.sortBy
    ? sql.fragment`${q.sortBy.expr} ${dir} ${nulls}, ${created} ${dir}, ${id} ${dir}`
    : sql.fragment`${created} ${dir}, ${id} ${dir}`;
  const position = q.after ?? q.before;
  const keyset = position ? afterPosition(q.sortBy, created, id, position, ascending, nullsLast) : sql.fragment`TRUE`;
  const sortKey = q.sortBy ? sql.fragment`(${q.sortBy.expr})::text` : sql.fragment`NULL::text`;
  return {
    keyset,
    orderBy,
    positionColumns: sql.fragment`${sortKey} AS page_sort_key, ${created}::text AS page_created_at`,
    // One row more than asked tells whether another page follows.
    limit: sql.fragment`LIMIT ${q.limit + 1} ${!position && q.offset ? sql.fragment`OFFSET ${q.offset}` : sql.fragment``}`,
    backwards,
  };
}

/** Rows strictly beyond `b` in the scan order (ascending or not, nulls last or first). */
function afterPosition(
  sortKey: PageQuery['sortBy'],
  created: IdentifierSqlToken,
  id: IdentifierSqlToken,
  b: Boundary,
  ascending: boolean,
  nullsLast: boolean,
): FragmentSqlToken {
  const op = ascending ? sql.fragment`>` : sql.fragment`<`;
  // A row comparison on (created_at, id) is an index range on (tenant_id, created_at, id).
  const tail = sql.fragment`(${created}, ${id}) ${op} (${b.createdAt}::timestamptz, ${b.id}::uuid)`;
  if (!sortKey) return tail;
  const sortBy = sortKey.expr;
  if (sortKey.notNull && b.sortKey !== null) {
    // One row comparison: an index on the key serves it as a range (the untyped parameter takes
    // the key's type).
    return sql.fragment`(${sortBy}, ${created}, ${id}) ${op} (${b.sortKey}, ${b.createdAt}::timestamptz, ${b.id}::uuid)`;
  }
  if (b.sortKey === null) {
    return nullsLast ? sql.fragment`(${sortBy} IS NULL AND ${tail})` : sql.fragment`(${sortBy} IS NOT NULL OR (${sortBy} IS NULL AND ${tail}))`;
  }
  const v = b.sortKey;
  return sql.fragment`((${sortBy} ${op} ${v}) OR (${sortBy} = ${v} AND ${tail})${nullsLast ? sql.fragment` OR ${sortBy} IS NULL` : sql.fragment``})`;
}

/** Splits the extra probe row off and puts a backwards page back in list order. */
export function toPage<Row extends z.infer<typeof PositionColumns> & { id: string }>(
  raw: readonly Row[],
  limit: number,
  backwards: boolean,
  total: number,
): Page<Row> {
  const more = raw.length > limit;
  const rows = raw.slice(0, limit);
  if (backwards) rows.reverse();
  const position = (r: Row | undefined): Boundary | undefined =>
    r ? { sortKey: r.page_sort_key, createdAt: r.page_created_at, id: r.id } : undefined;
  return { total, rows, first: position(rows[0]), last: position(rows[rows.length - 1]), more };
}

const Count = z.object({ n: z.number() });

/**
 * The number of live resources of a tenant: the sum of its append-only delta rows (migration
 * 1764600000000_list_counts.sql), an index-only scan of a handful of rows between compactions.
 */
export async function maintainedCount(tx: Tx, tenantId: string, resourceType: 'User' | 'Group'): Promise<number> {
  return tx.oneFirst(sql.type(Count)`
    SELECT coalesce(sum(delta), 0)::int8 AS n FROM resource_count_deltas
     WHERE tenant_id = ${tenantId} AND resource_type = ${resourceType}`);
}

/**
 * Folds the delta rows of tenants that accumulated more than `minRows` (worker background loop).
 * Returns how many (tenant, resource type) pairs it folded.
 */
export async function compactCounts(db: Pick<Tx, 'oneFirst'>, minRows = 16): Promise<number> {
  return db.oneFirst(sql.type(Count)`SELECT compact_resource_counts(${minRows})::int AS n`);
}

/** How long a recorded position may serve a later page (core/scim/paging.ts explains the drift). */
export const POSITION_TTL_SECONDS = 600;

const PositionRow = z.object({ sort_key: z.string().nullable(), created_at: z.string(), id: z.string().uuid() });

/** The recorded end of the page that ended at `endIndex` of this query, if fresh. */
export async function findPosition(tx: Tx, tenantId: string, query: string, endIndex: number): Promise<Boundary | undefined> {
  const row = await tx.maybeOne(sql.type(PositionRow)`
    SELECT sort_key, created_at, id FROM list_positions
     WHERE tenant_id = ${tenantId} AND query = ${query} AND end_index = ${endIndex}
       AND saved_at > now() - make_interval(secs => ${POSITION_TTL_SECONDS})`);
  return row ? { sortKey: row.sort_key, createdAt: row.created_at, id: row.id } : undefined;
}

/** Records where a served page ended (the newest traversal wins). */
export async function savePosition(tx: Tx, tenantId: string, query: string, endIndex: number, b: Boundary): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO list_positions (tenant_id, query, end_index, sort_key, created_at, id)
    VALUES (${tenantId}, ${query}, ${endIndex}, ${b.sortKey}, ${b.createdAt}, ${b.id})
    ON CONFLICT (tenant_id, query, end_index) DO UPDATE
       SET sort_key = excluded.sort_key, created_at = excluded.created_at, id = excluded.id, saved_at = now()`);
}

/** Drops positions older than the TTL (worker background loop); returns how many. */
export async function purgePositions(db: Pick<Tx, 'oneFirst'>): Promise<number> {
  return db.oneFirst(sql.type(Count)`SELECT purge_list_positions(${POSITION_TTL_SECONDS}) AS n`);
}
