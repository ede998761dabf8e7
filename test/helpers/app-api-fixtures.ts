import { sql } from 'slonik';
import { expect } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import type { TestStack, TestTenant } from './stack.js';

export interface AppTenant extends TestTenant {
  appKey: string;
  keyId: string;
}

/** A tenant with an app API key (issued the way the CLI does). */
export async function appTenant(stack: TestStack): Promise<AppTenant> {
  const tenant = await stack.createTenant();
  const key = await withTenant(stack.owner, tenant.id, (tx) => createAppKey(tx, tenant.id, 'test'));
  return { ...tenant, appKey: key.appKey, keyId: key.keyId };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

export async function api(stack: TestStack, key: string | undefined, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** RFC 7662 introspection with a form-encoded body (or JSON when asked). */
export async function introspect(stack: TestStack, key: string, token: string, options: { json?: boolean } = {}): Promise<any> {
  const res = await fetch(`${stack.url}/oauth2/introspect`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded',
    },
    body: options.json ? JSON.stringify({ token }) : new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/**
 * A SCIM-provisioned user whose joiner has run (no worker here: the state the workflow would
 * write is written directly), with the given engine-granted roles and manager.
 */
export async function activeUser(
  stack: TestStack,
  tenant: TestTenant,
  userName: string,
  options: { roles?: string[]; managerId?: string; externalId?: string } = {},
): Promise<string> {
  const res = await stack.scim(tenant, 'POST', '/Users', {
    userName,
    ...(options.externalId ? { externalId: options.externalId } : {}),
    ...(options.managerId
      ? {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { manager: { value: options.managerId } },
        }
      : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const id = res.body.id as string;
  await stack.owner.query(sql.unsafe`
    UPDATE users SET lifecycle_state = 'active', activated_at = now() WHERE tenant_id = ${tenant.id} AND id = ${id}`);
  for (const role of options.roles ?? []) await grantRole(stack, tenant, id, role);
  return id;
}

export async function grantRole(stack: TestStack, tenant: TestTenant, userId: string, role: string): Promise<void> {
  await stack.owner.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${tenant.id}, ${userId}, ${role}) ON CONFLICT DO NOTHING`);
}

export async function dropRole(stack: TestStack, tenant: TestTenant, userId: string, role: string): Promise<void> {
  await stack.owner.query(sql.unsafe`DELETE FROM user_roles WHERE tenant_id = ${tenant.id} AND user_id = ${userId} AND role = ${role}`);
}

/** What the identity workflow's activation would write after a SCIM reactivation. */
export async function markActivated(stack: TestStack, tenant: TestTenant, userId: string): Promise<void> {
  await stack.owner.query(sql.unsafe`
    UPDATE users SET lifecycle_state = 'active', activated_at = now() WHERE tenant_id = ${tenant.id} AND id = ${userId} AND active`);
}

export const deactivate = (stack: TestStack, tenant: TestTenant, userId: string, value: unknown = false) =>
  stack.scim(tenant, 'PATCH', `/Users/${userId}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'replace', path: 'active', value }],
  });
