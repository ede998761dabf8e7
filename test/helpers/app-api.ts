import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import type { TestStack, TestTenant } from './stack.js';

export interface AppClient {
  key: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  introspect(token: string): Promise<any>;
}

/** The vendor's application, as the tests see it: an app API key and JSON over real HTTP. */
export async function appClient(stack: TestStack, tenant: TestTenant): Promise<AppClient> {
  const { appKey } = await withTenant(stack.owner, tenant.id, (tx) => createAppKey(tx, tenant.id, 'tests'));
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${appKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    key: appKey,
    call,
    async introspect(token: string) {
      const res = await fetch(`${stack.url}/oauth2/introspect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      return res.json();
    },
  };
}
