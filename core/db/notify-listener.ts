import pg from 'pg';

export interface NotifyListenerOptions {
  /** The app role's URL; the listener holds one connection of its own. */
  url: string;
  channel: string;
  applicationName: string;
  onNotification(payload: string | undefined): void;
  /** LISTEN is in effect: whatever was sent before is lost, so a cache starts empty here. */
  onUp(): void;
  /**
   * The connection is gone (or could not be made): a cache must stop trusting its entries until
   * onUp. `closing`: because close() was called, not a failure (nothing to report).
   */
  onDown(err: unknown, closing: boolean): void;
  retryMs?: number;
}

export interface NotifyListener {
  close(): Promise<void>;
}

/**
 * One LISTEN connection that reconnects on loss (after `retryMs`), for caches that are evicted by
 * NOTIFY (the pattern of core/scim-token-cache.ts). `onDown` is called once per lost connection.
 */
export function listenForNotifications(options: NotifyListenerOptions): NotifyListener {
  let stopped = false;
  let client: pg.Client | undefined;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: options.url, application_name: options.applicationName });
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (client === c) client = undefined;
      options.onDown(err, stopped);
      void c.end().catch(() => {});
      if (!stopped) setTimeout(() => void connect(), options.retryMs ?? 1_000).unref();
    };
    c.on('notification', (n) => options.onNotification(n.payload));
    c.on('error', onLost);
    c.on('end', () => onLost());
    try {
      await c.connect();
      // The channel is a fixed identifier of ours, never input.
      await c.query(`LISTEN ${options.channel}`);
      if (lost) return;
      if (stopped) {
        await c.end();
        return;
      }
      client = c;
      options.onUp();
    } catch (err) {
      onLost(err);
    }
  };
  void connect();
  return {
    async close() {
      stopped = true;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
