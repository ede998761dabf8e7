import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { api, introspect } from './app-api-fixtures.js';
import type { TestStack, TestTenant } from './stack.js';

export interface AppClient {
  key: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  introspect(token: string): Promise<any>;
}

/** The vendor's application, as the workflow tests see it: an app API key bound to one tenant. */
export async function appClient(stack: TestStack, tenant: TestTenant): Promise<AppClient> {
  const { appKey } = await withTenant(stack.owner, tenant.id, (tx) => createAppKey(tx, tenant.id, 'tests'));
  return {
    key: appKey,
    call: (method, path, body) => api(stack, appKey, method, path, body),
    introspect: (token) => introspect(stack, appKey, token),
  };
}
