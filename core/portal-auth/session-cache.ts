import type { Db } from '../db/pool.js';
import { listenForNotifications, type NotifyListener } from '../db/notify-listener.js';
import { resolveSession, touchSessions } from './queries.js';
import type { PortalPrincipal } from './service.js';
import { hashToken } from './tokens.js';

export const PORTAL_SESSION_CHANNEL = 'roster_portal_sessions';

export interface PortalSessionCacheOptions {
  db: Db;
  /** The app role's URL to LISTEN on. Without it nothing is cached (every request asks the database). */
  listenUrl?: string | undefined;
  /** Upper bound on an entry's age, whatever the notifications say. 0 disables the cache. */
  ttlMs: number;
  maxEntries: number;
  /** PORTAL_SESSION_IDLE_SECONDS: what a session resolved from the database is checked against. */
  idleSeconds: number;
  /** How often the sessions served from memory get their last_seen_at written. */
  touchIntervalMs: number;
  logger?: { warn(obj: unknown, msg: string): void };
}

export interface ResolvedSession {
  principal: PortalPrincipal;
  fromCache: boolean;
}

interface Entry {
  principal: PortalPrincipal;
  /** Until when the entry may be used: min(cached + ttl, the session's absolute expiry). */
  validUntil: number;
}

/**
 * Portal session cookies → principal, in memory, so a signed-in request costs no round trip for
 * its session (the pattern of core/scim-token-cache.ts).
 *
 * - Security does not rest on the notifications: a session served from memory is re-checked by
 *   the first statement of the request's own transaction (`sessionStillCurrent`, evaluated with
 *   the tenant setting, so no extra round trip); if it was revoked or its roles changed, the
 *   request is re-authorised from the database. Routes without a transaction call `refresh`.
 * - Revocation, sign-out, removal of a member and any change of their roles, status or e-mail
 *   NOTIFY every API process at commit (triggers from migration 1764800300000) and each evicts the
 *   session or the person named. The cache is used only while its LISTEN connection is up; on loss
 *   it is cleared and bypassed until the listener is back (then cleared again). A lookup that raced
 *   a notification is not cached (generation check); misses are never cached.
 * - Idle timeout: a session read from the database was live then, and that read counts as a use,
 *   so it cannot go idle within the entry's lifetime (ttl < idle timeout). Every hit records the
 *   time of use; the uses are written in one batch every `touchIntervalMs` (never per request), so
 *   another process that reads the session from the database sees when it was last used.
 * - Absolute timeout: an entry ends at the session's own expiry.
 */
export class PortalSessionCache {
  private readonly entries = new Map<string, Entry>();
  /** session id → when it was last served from memory, since the last flush. */
  private used = new Map<string, number>();
  private generation = 0;
  private listening = false;
  private readonly ttlMs: number;
  private readonly listener: NotifyListener | undefined;
  private readonly touchTimer: NodeJS.Timeout;

  constructor(private readonly options: PortalSessionCacheOptions) {
    // An entry must end well before the session could go idle, and uses must reach the database
    // before another process could judge the session idle.
    const idleMs = options.idleSeconds * 1000;
    this.ttlMs = Math.min(options.ttlMs, Math.floor(idleMs / 4));
    const touchMs = Math.max(100, Math.min(options.touchIntervalMs, Math.floor(idleMs / 4)));
    this.touchTimer = setInterval(() => void this.flushUsage(), touchMs);
    this.touchTimer.unref();
    if (options.listenUrl && this.ttlMs > 0) {
      this.listener = listenForNotifications({
        url: options.listenUrl,
        channel: PORTAL_SESSION_CHANNEL,
        applicationName: 'roster-portal-session-listener',
        onNotification: (payload) => this.invalidate(payload),
        onUp: () => {
          // Whatever was revoked before LISTEN took effect never reaches us: start empty.
          this.entries.clear();
          this.generation++;
          this.listening = true;
        },
        onDown: (err, closing) => {
          this.drop();
          if (!closing) options.logger?.warn({ err }, 'portal session listener lost its connection; resolving every request in the database until it is back');
        },
      });
    }
  }

  /** True once the invalidation listener is connected (entries are cached only then). */
  get active(): boolean {
    return this.listening;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The principal behind a session cookie, or null when it is unknown, expired, idle or revoked.
   * `fromCache`: read from memory, so the caller must re-check it with `sessionStillCurrent` in
   * the request's own transaction (or call `refresh`) before acting on it.
   */
  async resolve(token: string): Promise<ResolvedSession | null> {
    const hash = hashToken(token);
    const key = hash.toString('hex');
    if (this.listening) {
      const hit = this.entries.get(key);
      if (hit) {
        const now = Date.now();
        if (now < hit.validUntil) {
          this.used.set(hit.principal.sessionId, now);
          return { principal: hit.principal, fromCache: true };
        }
        this.entries.delete(key);
      }
    }
    const principal = await this.read(key, hash);
    return principal ? { principal, fromCache: false } : null;
  }

  /** Forgets the cookie's entry and reads the session from the database (a re-check failed). */
  async refresh(token: string): Promise<PortalPrincipal | null> {
    const hash = hashToken(token);
    const key = hash.toString('hex');
    this.generation++;
    this.entries.delete(key);
    return this.read(key, hash);
  }

  private async read(key: string, hash: Buffer): Promise<PortalPrincipal | null> {
    const generation = this.generation;
    const cachedAt = Date.now();
    const s = await resolveSession(this.options.db, hash, this.options.idleSeconds);
    if (!s) return null;
    const principal: PortalPrincipal = { tenantId: s.tenant_id, userId: s.user_id, sessionId: s.session_id, email: s.email, roles: s.roles };
    if (this.listening && generation === this.generation) {
      if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { principal, validUntil: Math.min(cachedAt + this.ttlMs, Date.parse(s.expires_at)) });
    }
    return principal;
  }

  /** Applies one notification payload (`s:<session id>` or `u:<portal user id>`; anything else clears all). */
  invalidate(payload: string | undefined): void {
    this.generation++;
    const kind = payload?.slice(0, 2);
    const id = payload?.slice(2);
    if (kind === 's:' || kind === 'u:') {
      for (const [key, e] of this.entries) {
        if ((kind === 's:' ? e.principal.sessionId : e.principal.userId) === id) this.entries.delete(key);
      }
    } else {
      this.entries.clear();
    }
  }

  private drop(): void {
    this.listening = false;
    this.generation++;
    this.entries.clear();
  }

  /** Writes the uses seen since the last flush (also called on close). */
  async flushUsage(): Promise<void> {
    if (this.used.size === 0) return;
    const uses = this.used;
    this.used = new Map();
    await touchSessions(this.options.db, uses, this.options.idleSeconds).catch((err: unknown) =>
      this.options.logger?.warn({ err }, 'could not record portal session use'),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.touchTimer);
    await this.listener?.close();
    this.drop();
    await this.flushUsage();
  }
}
