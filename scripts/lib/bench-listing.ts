/**
 * The listing row of the bench (issue 6, "Listing does not scale"): a full listing of a tenant of
 * N users through the real API, once with startIndex and once with RFC 9865 cursors, timing each
 * page; reported as the median page time at the start, middle and end of the list, the API's CPU
 * per page, and next to it what PostgreSQL alone takes for the same page (the keyset query the
 * API runs, and the count(*) OVER () + OFFSET query it ran before).
 */
import pg from 'pg';
import { createDatabasePool, withTenant } from '../../core/db/pool.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { bulkLoadUsers, percentile } from './bench-pg.js';
import { cpuSample, cpuUsage } from './bench-proc.js';

export interface ListingWalk {
  mode: 'startIndex' | 'cursor';
  pages: number;
  resources: number;
  /** Every user exactly once. */
  complete: boolean;
  totalSec: number;
  startMs: number;
  middleMs: number;
  endMs: number;
  p99Ms: number;
  apiCpuMsPerPage: number | null;
  postgresCpuMsPerPage: number | null;
}

export interface ListingResult {
  users: number;
  loadSec: number;
  walks: ListingWalk[];
  /** startIndex at the end of the list when no API process served the page before it (OFFSET fallback). */
  coldDeepPageMs: number;
  /** PostgreSQL alone (owner role, one statement, same machine, same run). */
  raw: { keysetStartMs: number; keysetEndMs: number; offsetStartMs: number; offsetMiddleMs: number; offsetEndMs: number };
}

/** Median of the `window` page times around index `at` (clamped to the list). */
function around(times: number[], at: number, window = 10): number {
  const from = Math.max(0, Math.min(times.length - window, at - Math.floor(window / 2)));
  const slice = times.slice(from, from + window).sort((a, b) => a - b);
  return percentile(slice, 50);
}

interface ListBody {
  totalResults: number;
  nextCursor?: string;
  Resources?: { id: string }[];
}

async function get(apiUrl: string, token: string, path: string): Promise<{ ms: number; body: ListBody }> {
  const t0 = performance.now();
  const res = await fetch(`${apiUrl}/scim/v2${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 300)}`);
  return { ms, body: JSON.parse(text) as ListBody };
}

async function walk(apiUrl: string, apiPid: number | undefined, token: string, users: number, mode: ListingWalk['mode'], pageSize: number): Promise<ListingWalk> {
  const times: number[] = [];
  const seen = new Set<string>();
  let resources = 0;
  const before = cpuSample(apiPid);
  const t0 = performance.now();
  let startIndex = 1;
  let cursor: string | undefined = '';
  while (true) {
    const path: string = mode === 'startIndex' ? `/Users?startIndex=${startIndex}&count=${pageSize}` : `/Users?count=${pageSize}&cursor=${cursor}`;
    const { ms, body } = await get(apiUrl, token, path);
    const page = body.Resources ?? [];
    if (page.length === 0 && mode === 'startIndex') break;
    times.push(ms);
    resources += page.length;
    for (const r of page) seen.add(r.id);
    if (mode === 'startIndex') {
      startIndex += page.length;
      if (startIndex > body.totalResults) break;
    } else {
      cursor = body.nextCursor;
      if (cursor === undefined) break;
    }
  }
  const totalSec = (performance.now() - t0) / 1000;
  const cpu = cpuUsage(before, cpuSample(apiPid), apiPid !== undefined);
  const perPage = (cores: number | null | undefined) => (cores === null || cores === undefined ? null : (cores * totalSec * 1000) / times.length);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    mode,
    pages: times.length,
    resources,
    complete: resources === users && seen.size === users,
    totalSec,
    startMs: around(times, 0),
    middleMs: around(times, Math.floor(times.length / 2)),
    endMs: around(times, times.length - 1),
    p99Ms: percentile(sorted, 99),
    apiCpuMsPerPage: perPage(cpu?.apiCores),
    postgresCpuMsPerPage: perPage(cpu?.postgresCores),
  };
}

/** Median time of `runs` executions of one statement on a dedicated connection. */
async function timeQuery(client: pg.Client, text: string, values: unknown[], runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    await client.query(text, values);
    if (i > 0) times.push(performance.now() - t0); // the first run warms the plan and cache
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

const PAGE_COLUMNS = `u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at,
  u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at, u.display_name, u.name, u.emails, u.phone_numbers,
  u.enterprise, u.attributes, u.version, u.event_seq, u.applied_seq, u.created_at, u.updated_at,
  coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'displayName', g.display_name) ORDER BY g.display_name_key)
              FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
             WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id), '[]'::jsonb) AS groups`;

async function rawCeilings(ownerUrl: string, tenantId: string, users: number, pageSize: number): Promise<ListingResult['raw']> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const last = await client.query<{ created_at: string; id: string }>(
      `SELECT created_at::text AS created_at, id FROM users WHERE tenant_id = $1 AND scim_deleted_at IS NULL
        ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
      [tenantId, pageSize],
    );
    const keyset = `SELECT ${PAGE_COLUMNS} FROM users u WHERE u.tenant_id = $1 AND u.scim_deleted_at IS NULL
      AND (u.created_at, u.id) > ($2::timestamptz, $3::uuid) ORDER BY u.created_at, u.id LIMIT ${pageSize + 1}`;
    const first = `SELECT ${PAGE_COLUMNS} FROM users u WHERE u.tenant_id = $1 AND u.scim_deleted_at IS NULL
      ORDER BY u.created_at, u.id LIMIT ${pageSize + 1}`;
    const offset = `SELECT ${PAGE_COLUMNS}, count(*) OVER ()::int AS total FROM users u
      WHERE u.tenant_id = $1 AND u.scim_deleted_at IS NULL ORDER BY u.created_at, u.id OFFSET $2 LIMIT ${pageSize}`;
    const b = last.rows[0]!;
    const slowRuns = users >= 500_000 ? 2 : 5;
    return {
      keysetStartMs: await timeQuery(client, first, [tenantId], 20),
      keysetEndMs: await timeQuery(client, keyset, [tenantId, b.created_at, b.id], 20),
      offsetStartMs: await timeQuery(client, offset, [tenantId, 0], slowRuns),
      offsetMiddleMs: await timeQuery(client, offset, [tenantId, Math.floor(users / 2)], slowRuns),
      offsetEndMs: await timeQuery(client, offset, [tenantId, Math.max(0, users - pageSize)], slowRuns),
    };
  } finally {
    await client.end();
  }
}

/**
 * For each size: a fresh tenant, bulk-loaded (one INSERT … SELECT), then the two full listings
 * through the API at `apiUrl` (whose process id, when given, is used for CPU per page), then the
 * raw-PostgreSQL comparison. The API must be otherwise idle.
 */
export async function benchListing(options: {
  ownerUrl: string;
  apiUrl: string;
  apiPid?: number;
  sizes: number[];
  pageSize?: number;
  say?: (line: string) => void;
}): Promise<ListingResult[]> {
  const pageSize = options.pageSize ?? 100;
  const say = options.say ?? (() => {});
  const owner = await createDatabasePool(options.ownerUrl, { maximumPoolSize: 2 });
  const out: ListingResult[] = [];
  try {
    for (const users of options.sizes) {
      const tenant = await createTenant(owner, { slug: `bench-listing-${users}-${Date.now()}` });
      const conn = await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, 'bench-listing'));
      const loadSec = await bulkLoadUsers(options.ownerUrl, tenant.id, `list-${users}-`, users);
      say(`        ${users.toLocaleString('en-US')} users loaded in ${loadSec.toFixed(1)} s; listing them by startIndex, then by cursor`);
      const walks: ListingWalk[] = [];
      for (const mode of ['startIndex', 'cursor'] as const) {
        const w = await walk(options.apiUrl, options.apiPid, conn.token, users, mode, pageSize);
        say(`        ${mode}: ${w.pages} pages in ${w.totalSec.toFixed(1)} s, per page start/middle/end ${w.startMs.toFixed(1)}/${w.middleMs.toFixed(1)}/${w.endMs.toFixed(1)} ms${w.complete ? '' : ' — INCOMPLETE'}`);
        walks.push(w);
      }
      // A different sortBy is a different query: the API has no remembered position for it.
      const cold = await get(options.apiUrl, conn.token, `/Users?sortBy=meta.created&startIndex=${Math.max(1, users - pageSize + 1)}&count=${pageSize}`);
      const raw = await rawCeilings(options.ownerUrl, tenant.id, users, pageSize);
      out.push({ users, loadSec, walks, coldDeepPageMs: cold.ms, raw });
    }
  } finally {
    await owner.end();
  }
  return out;
}

/** Table rows for the report: one per size and paging style. */
export function listingTable(results: ListingResult[]): string[][] {
  const f = (n: number | null) => (n === null ? '–' : n < 10 ? n.toFixed(1) : n.toFixed(0));
  return [
    ['users', 'paging', 'pages', 'full listing s', 'page ms start', 'middle', 'end', 'p99', 'API CPU ms/page', 'PG CPU ms/page', 'raw keyset ms (end)', 'old OFFSET ms start/middle/end', 'cold deep startIndex ms'],
    ...results.flatMap((r) =>
      r.walks.map((w) => [
        r.users.toLocaleString('en-US'),
        w.mode + (w.complete ? '' : ' (INCOMPLETE)'),
        String(w.pages),
        w.totalSec.toFixed(1),
        f(w.startMs),
        f(w.middleMs),
        f(w.endMs),
        f(w.p99Ms),
        f(w.apiCpuMsPerPage),
        f(w.postgresCpuMsPerPage),
        f(r.raw.keysetEndMs),
        `${f(r.raw.offsetStartMs)}/${f(r.raw.offsetMiddleMs)}/${f(r.raw.offsetEndMs)}`,
        f(r.coldDeepPageMs),
      ]),
    ),
  ];
}
