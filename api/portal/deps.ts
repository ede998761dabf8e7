import type { Client } from '@temporalio/client';
import type { Config } from '../../core/config.js';
import type { Db } from '../../core/db/pool.js';
import type { PortalSessionCache } from '../../core/portal-auth/session-cache.js';

/** What the portal API needs; app.ts builds it once. */
export interface PortalDeps {
  /** The app role's pool (RLS applies; handlers get a tenant-scoped transaction). */
  db: Db;
  /** Never the owner connection: the portal acts inside one tenant. */
  owner?: never;
  config: Config;
  /** SECRETS_ENCRYPTION_KEY: seals TOTP secrets, signs CSRF tokens. */
  secretKey: Buffer;
  /** The public base URL (setup links, the Origin check, the Secure cookie flag). */
  publicUrl: string;
  /** For features that query or signal workflows (absent when Temporal is not configured). */
  temporal?: Client | undefined;
  /** Resolves portal session cookies (cached per process, evicted by NOTIFY); without it every request asks the database. */
  sessions?: PortalSessionCache | undefined;
}
