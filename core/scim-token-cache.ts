import type { Db } from './db/pool.js';
import { listenForNotifications, type NotifyListener } from './db/notify-listener.js';
import { authenticateScimToken, isScimTokenShaped, type ScimPrincipal, touchScimTokens } from './repositories/scim-tokens.js';
import { hashSecret } from './secrets.js';

export interface ScimTokenCacheOptions {
  db: Db;
  /** The app role's URL to LISTEN on. Without it nothing is cached (every request asks the database). */
  listenUrl?: string | undefined;
  /** Upper bound on an entry's age, whatever the notifications say. 0 disables the cache. */
  ttlMs: number;
  maxEntries: number;
  /** How often the tokens seen since the last flush get their last_used_at written. */
  touchIntervalMs: number;
  logger?: { warn(obj: unknown, msg: string): void };
}

interface Entry {
  principal: ScimPrincipal;
  cachedAt: number;
}

export const SCIM_TOKEN_CHANNEL = 'roster_scim_tokens';

/**
 * SCIM bearer tokens → principal, in memory, so an authenticated request costs no round trip.
 *
 * Revocation stays effective within the notification latency on every API process: a trigger on
 * scim_tokens / scim_connections NOTIFYs at commit and each process evicts what it names. The cache
 * is used only while its LISTEN connection is up; on loss it is cleared and bypassed until the
 * listener is back (then cleared again, since notifications sent meanwhile are gone). A lookup
 * that raced a notification is not cached (generation check). Entries also age out after `ttlMs`
 * and at the token's own expiry; misses are never cached, so unknown tokens cannot fill it.
 */
export class ScimTokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly used = new Set<string>();
  private generation = 0;
  private listening = false;
  private readonly listener: NotifyListener | undefined;
  private readonly touchTimer: NodeJS.Timeout;

  constructor(private readonly options: ScimTokenCacheOptions) {
    this.touchTimer = setInterval(() => void this.flushUsage(), options.touchIntervalMs);
    this.touchTimer.unref();
    if (options.listenUrl && options.ttlMs > 0) {
      this.listener = listenForNotifications({
        url: options.listenUrl,
        channel: SCIM_TOKEN_CHANNEL,
        applicationName: 'roster-scim-token-listener',
        onNotification: (payload) => this.invalidate(payload),
        onUp: () => {
          // Whatever was revoked before LISTEN took effect never reaches us: start empty.
          this.entries.clear();
          this.generation++;
          this.listening = true;
        },
        onDown: (err, closing) => {
          this.drop();
          if (!closing) options.logger?.warn({ err }, 'SCIM token listener lost its connection; authenticating every request until it is back');
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

  async authenticate(token: string): Promise<ScimPrincipal | null> {
    if (!isScimTokenShaped(token)) return null;
    const hash = hashSecret(token);
    const key = hash.toString('hex');
    if (this.listening) {
      const hit = this.entries.get(key);
      if (hit) {
        const now = Date.now();
        if (now - hit.cachedAt < this.options.ttlMs && (hit.principal.expiresAt === null || hit.principal.expiresAt > now)) {
          this.used.add(hit.principal.tokenId);
          return hit.principal;
        }
        this.entries.delete(key);
      }
    }
    const generation = this.generation;
    const principal = await authenticateScimToken(this.options.db, token, hash);
    if (!principal) return null;
    this.used.add(principal.tokenId);
    if (this.listening && generation === this.generation) {
      if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, { principal, cachedAt: Date.now() });
    }
    return principal;
  }

  /** Applies one notification payload (`t:<hash hex>` or `c:<connection id>`). */
  invalidate(payload: string | undefined): void {
    this.generation++;
    if (payload?.startsWith('t:')) {
      this.entries.delete(payload.slice(2));
    } else if (payload?.startsWith('c:')) {
      const connectionId = payload.slice(2);
      for (const [key, e] of this.entries) if (e.principal.connectionId === connectionId) this.entries.delete(key);
    } else {
      this.entries.clear();
    }
  }

  private drop(): void {
    this.listening = false;
    this.generation++;
    this.entries.clear();
  }

  private async flushUsage(): Promise<void> {
    if (this.used.size === 0) return;
    const ids = [...this.used];
    this.used.clear();
    await touchScimTokens(this.options.db, ids).catch((err: unknown) => this.options.logger?.warn({ err }, 'could not record SCIM token use'));
  }

  async close(): Promise<void> {
    clearInterval(this.touchTimer);
    await this.listener?.close();
    this.drop();
    await this.flushUsage();
  }
}
