import { randomBytes } from 'node:crypto';

/**
 * The IdP side of the chaos run: a mixed load of SCIM writes over many tenants, each write retried
 * the way a well-behaved IdP does (503: after Retry-After; a refused or reset connection: at the
 * other API, which is the load balancer's job here), and a model of what the directory must hold.
 *
 * Writes to one user never overlap (the generator holds a per-user lock), so "the last write that
 * got a 2xx" is well defined. A write that ended without a 2xx is either known not to have been
 * written (every attempt answered 503, or the connection was refused before the request was sent)
 * or unknown (a connection reset or timeout while the request was in flight): the model then
 * accepts both outcomes for what that write touched.
 */

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

export interface ModelUser {
  id: string;
  userName: string;
  /** Values the server may hold: one after a 2xx, more after writes with unknown outcome. */
  displayName: Set<string>;
  active: Set<boolean>;
  deleted: Set<boolean>;
  groups: Map<string, Set<boolean>>;
  busy: boolean;
}

export interface TenantModel {
  index: number;
  id: string;
  token: string;
  groups: string[];
  users: Map<string, ModelUser>;
  /** userNames of creates whose outcome is unknown (the server may hold them, with an id we never saw). */
  unknownCreates: Set<string>;
}

export type WriteKind = 'create' | 'rename' | 'groupPush' | 'deactivate' | 'delete';

export interface LoadStats {
  writes: number;
  byKind: Record<WriteKind, number>;
  ok: number;
  attempts: number;
  responses503: number;
  responses503WithRetryAfter: number;
  responses500: number;
  connectionErrors: number;
  /** Writes that got a 503, a 500 or a connection error first and a 2xx on a later attempt. */
  retriesSucceeded: number;
  /** Writes that never got a 2xx (known not written or unknown). */
  failed: number;
  unknownOutcome: number;
  /** Answers no retry explains (e.g. a 4xx on the first attempt): listed, and a violation. */
  unexpected: string[];
  /** Requests in flight while PostgreSQL was down or restarting, by what they got. */
  pgWindow: { requests: number; status: Record<string, number>; writesRetried: number; writesRetriedSucceeded: number };
}

export interface LoadOptions {
  tenants: TenantModel[];
  apis: () => string[];
  writes: number;
  connections: number;
  /** Awaited before write number i is issued (the fault timeline gates the load on its steps). */
  beforeWrite?: (i: number) => Promise<void>;
  /** Is PostgreSQL down or restarting right now (for the pgWindow counts). */
  pgDown: () => boolean;
  /**
   * Requests sent while PostgreSQL was down that have not been answered yet: the fault timeline
   * waits for them before its next fault, so a later fault (an API killed) is not blamed on them.
   */
  pgInFlight?: { n: number };
  maxAttempts?: number;
  /** Cap on one Retry-After wait, in seconds (the server's value is honoured up to it). */
  maxRetryAfterSeconds?: number;
  requestTimeoutMs?: number;
  seed?: number;
}

type Outcome = 'ok' | 'notWritten' | 'unknown';

export function emptyStats(): LoadStats {
  return {
    writes: 0,
    byKind: { create: 0, rename: 0, groupPush: 0, deactivate: 0, delete: 0 },
    ok: 0,
    attempts: 0,
    responses503: 0,
    responses503WithRetryAfter: 0,
    responses500: 0,
    connectionErrors: 0,
    retriesSucceeded: 0,
    failed: 0,
    unknownOutcome: 0,
    unexpected: [],
    pgWindow: { requests: 0, status: {}, writesRetried: 0, writesRetriedSucceeded: 0 },
  };
}

/** A small deterministic PRNG (mulberry32) so a run's mix can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Write {
  kind: WriteKind;
  tenant: TenantModel;
  users: ModelUser[];
  method: string;
  path: string;
  body?: unknown;
  /** The model update for a 2xx ('ok') or an unknown outcome. */
  apply(outcome: 'ok' | 'unknown', created?: { id: string }): void;
  /** A retry's answer that means an earlier attempt of this write landed (409 on create, 404 on delete). */
  landedBefore?: number;
  userName?: string;
}

export async function runLoad(options: LoadOptions): Promise<LoadStats> {
  const stats = emptyStats();
  const random = rng(options.seed ?? 42);
  const maxAttempts = options.maxAttempts ?? 30;
  const maxRetryAfter = options.maxRetryAfterSeconds ?? 2;
  let next = 0;
  let rr = 0;

  const live = (u: ModelUser) => !u.busy && u.deleted.size === 1 && u.deleted.has(false);
  const pickUsers = (t: TenantModel, n: number): ModelUser[] => {
    const picked: ModelUser[] = [];
    const all = [...t.users.values()];
    for (let tries = 0; tries < n * 4 && picked.length < n && all.length; tries++) {
      const u = all[Math.floor(random() * all.length)]!;
      if (live(u) && !picked.includes(u)) picked.push(u);
    }
    return picked;
  };

  function plan(): Write {
    const tenant = options.tenants[Math.floor(random() * options.tenants.length)]!;
    const r = random();
    const one = r >= 0.3 ? pickUsers(tenant, 1) : [];
    if (r < 0.3 || one.length === 0) {
      const userName = `chaos-${tenant.index}-${randomBytes(5).toString('hex')}@example.com`;
      const displayName = `Joiner ${randomBytes(3).toString('hex')}`;
      return {
        kind: 'create',
        tenant,
        users: [],
        userName,
        method: 'POST',
        path: '/Users',
        body: { schemas: [USER_SCHEMA], userName, displayName, active: true },
        apply(outcome, created) {
          if (outcome === 'unknown' || !created) {
            tenant.unknownCreates.add(userName);
            return;
          }
          tenant.users.set(created.id, { id: created.id, userName, displayName: new Set([displayName]), active: new Set([true]), deleted: new Set([false]), groups: new Map(), busy: false });
        },
        landedBefore: 409,
      };
    }
    const user = one[0]!;
    if (r < 0.6) {
      const value = `Renamed ${randomBytes(3).toString('hex')}`;
      return {
        kind: 'rename',
        tenant,
        users: [user],
        method: 'PATCH',
        path: `/Users/${user.id}`,
        body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value }] },
        apply: (outcome) => (outcome === 'ok' ? (user.displayName = new Set([value])) : user.displayName.add(value)),
      };
    }
    if (r < 0.75) {
      const members = [user, ...pickUsers(tenant, 1 + Math.floor(random() * 3)).filter((u) => u !== user)];
      const group = tenant.groups[Math.floor(random() * tenant.groups.length)]!;
      return {
        kind: 'groupPush',
        tenant,
        users: members,
        method: 'PATCH',
        path: `/Groups/${group}`,
        body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: members.map((u) => ({ value: u.id })) }] },
        apply(outcome) {
          for (const u of members) {
            const now = u.groups.get(group) ?? new Set([false]);
            if (outcome === 'ok') u.groups.set(group, new Set([true]));
            else u.groups.set(group, now.add(true));
          }
        },
      };
    }
    if (r < 0.9) {
      return {
        kind: 'deactivate',
        tenant,
        users: [user],
        method: 'PATCH',
        path: `/Users/${user.id}`,
        body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] },
        apply: (outcome) => (outcome === 'ok' ? (user.active = new Set([false])) : user.active.add(false)),
      };
    }
    return {
      kind: 'delete',
      tenant,
      users: [user],
      method: 'DELETE',
      path: `/Users/${user.id}`,
      apply: (outcome) => (outcome === 'ok' ? (user.deleted = new Set([true])) : user.deleted.add(true)),
      landedBefore: 404,
    };
  }

  async function attempt(api: string, w: Write): Promise<{ status: number; retryAfter: string | null; body: { id?: unknown } | undefined } | { error: 'refused' | 'reset' }> {
    const sentDuringPg = options.pgDown();
    stats.attempts++;
    if (sentDuringPg && options.pgInFlight) options.pgInFlight.n++;
    try {
      const res = await fetch(`${api}/scim/v2${w.path}`, {
        method: w.method,
        headers: { authorization: `Bearer ${w.tenant.token}`, ...(w.body ? { 'content-type': 'application/scim+json' } : {}) },
        ...(w.body ? { body: JSON.stringify(w.body) } : {}),
        signal: AbortSignal.timeout(options.requestTimeoutMs ?? 60_000),
      });
      const text = await res.text();
      if (sentDuringPg || options.pgDown()) {
        stats.pgWindow.requests++;
        const key = res.status === 503 ? (res.headers.get('retry-after') ? '503+Retry-After' : '503 without Retry-After') : String(res.status);
        stats.pgWindow.status[key] = (stats.pgWindow.status[key] ?? 0) + 1;
      }
      let body: { id?: unknown } | undefined;
      try {
        body = text ? (JSON.parse(text) as { id?: unknown }) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
    } catch (err) {
      stats.connectionErrors++;
      if (sentDuringPg || options.pgDown()) {
        stats.pgWindow.requests++;
        stats.pgWindow.status['connection error'] = (stats.pgWindow.status['connection error'] ?? 0) + 1;
      }
      // Refused: the request never reached a server. Anything else (reset, timeout): it may have been applied.
      const code = (err as { cause?: { code?: string } }).cause?.code;
      return { error: code === 'ECONNREFUSED' ? 'refused' : 'reset' };
    } finally {
      if (sentDuringPg && options.pgInFlight) options.pgInFlight.n--;
    }
  }

  async function execute(w: Write): Promise<Outcome> {
    let maybeWritten = false;
    let troubled = false;
    let pgTroubled = false;
    for (let i = 0; i < maxAttempts; i++) {
      const apis = options.apis();
      const api = apis[rr++ % apis.length]!;
      const r = await attempt(api, w);
      if ('error' in r) {
        troubled = true;
        if (r.error === 'reset') maybeWritten = true;
        await sleep(100 + random() * 200);
        continue;
      }
      const landed = maybeWritten && r.status === w.landedBefore;
      if ((r.status >= 200 && r.status < 300) || landed) {
        if (troubled) stats.retriesSucceeded++;
        if (pgTroubled) stats.pgWindow.writesRetriedSucceeded++;
        let created: { id: string } | undefined;
        if (w.kind === 'create') created = r.status === 201 ? { id: String(r.body?.id) } : await findUser(api, w);
        w.apply('ok', created);
        return 'ok';
      }
      if (r.status === 503) {
        stats.responses503++;
        if (r.retryAfter) stats.responses503WithRetryAfter++;
        if (options.pgDown() && !pgTroubled) {
          pgTroubled = true;
          stats.pgWindow.writesRetried++;
        }
        troubled = true;
        const seconds = Math.min(Number(r.retryAfter) || 1, maxRetryAfter);
        await sleep(seconds * 1000 * (0.5 + random() / 2));
        continue;
      }
      if (r.status === 500) {
        // Never acceptable; the IdP retries it, and it may have written something.
        stats.responses500++;
        maybeWritten = true;
        troubled = true;
        await sleep(500);
        continue;
      }
      stats.unexpected.push(`${w.method} ${w.path} -> ${r.status} ${JSON.stringify(r.body ?? null).slice(0, 200)}`);
      break;
    }
    if (maybeWritten) w.apply('unknown');
    return maybeWritten ? 'unknown' : 'notWritten';
  }

  async function findUser(api: string, w: Write): Promise<{ id: string } | undefined> {
    for (let i = 0; i < 20; i++) {
      try {
        const filter = encodeURIComponent(`userName eq "${w.userName}"`);
        const res = await fetch(`${api}/scim/v2/Users?filter=${filter}`, { headers: { authorization: `Bearer ${w.tenant.token}` } });
        const body = (await res.json()) as { Resources?: { id: string }[] };
        if (res.ok && body.Resources?.[0]) return { id: body.Resources[0].id };
      } catch {
        // try again
      }
      await sleep(500);
    }
    return undefined;
  }

  async function lane(): Promise<void> {
    while (next < options.writes) {
      const i = next++;
      await options.beforeWrite?.(i);
      const w = plan();
      for (const u of w.users) u.busy = true;
      stats.writes++;
      stats.byKind[w.kind]++;
      try {
        const outcome = await execute(w);
        if (outcome === 'ok') stats.ok++;
        else {
          stats.failed++;
          if (outcome === 'unknown') stats.unknownOutcome++;
        }
      } finally {
        for (const u of w.users) u.busy = false;
      }
    }
  }

  await Promise.all(Array.from({ length: options.connections }, lane));
  return stats;
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
