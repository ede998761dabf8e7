import { extendZodWithOpenApi, type OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { CreatePersonalTokenBody, CredentialName as Name, Scopes, YEAR_SECONDS as YEAR } from '../core/credentials/schema.js';
import { CredentialKind, IntrospectionResponse, ServiceAccountStatus } from '../core/repositories/credentials.js';

extendZodWithOpenApi(z);

/**
 * Request and response bodies of the app-facing API (`/api/v1`, `/oauth2/introspect`): the router
 * parses with these and the OpenAPI document is generated from them.
 */

export const CreateSessionBody = z
  .object({ ttlSeconds: z.number().int().min(60).max(30 * 24 * 3600).optional().describe('lifetime, default 12 hours') })
  .strict();
// Shared with the CLI (`roster token issue`).
export { CreatePersonalTokenBody };
export const CreateOAuthGrantBody = z
  .object({ clientId: z.string().min(1).max(200), clientName: z.string().min(1).max(200).optional(), scopes: Scopes })
  .strict();
export const CreateServiceAccountBody = z.object({ name: Name, ownerUserId: z.string().uuid() }).strict();
export const CreateServiceAccountTokenBody = z
  .object({ name: Name, scopes: Scopes, expiresInSeconds: z.number().int().min(60).max(YEAR).optional() })
  .strict();
export const ListServiceAccountsQuery = z.object({
  orphaned: z.enum(['true', 'false']).optional().describe('true: only accounts queued for a new owner'),
});

/** RFC 7662 §2.1: `token` is required, `token_hint` optional (and only a hint). */
export const IntrospectionRequest = z.object({
  token: z.string().min(1).max(4096),
  token_type_hint: z.string().max(100).optional(),
});

export const Credential = z
  .object({
    id: z.string().uuid(),
    kind: CredentialKind,
    userId: z.string().uuid().nullable(),
    serviceAccountId: z.string().uuid().nullable(),
    name: z.string().nullable(),
    scopes: z.array(z.string()),
    requiredRoles: z.array(z.string()),
    tokenPrefix: z.string().describe('the first characters of the secret, for recognising it; never the secret'),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    revokedReason: z.string().nullable(),
  })
  .openapi('Credential');
export const IssuedCredential = z
  .object({ credential: Credential, token: z.string().describe('the secret, shown in this response only') })
  .openapi('IssuedCredential');
export const OAuthGrant = z
  .object({
    id: z.string().uuid(),
    userId: z.string().uuid(),
    clientId: z.string(),
    clientName: z.string().nullable(),
    scopes: z.array(z.string()),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    revokedReason: z.string().nullable(),
  })
  .openapi('OAuthGrant');
export const ServiceAccount = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    ownerUserId: z.string().uuid().nullable(),
    status: ServiceAccountStatus,
    orphaned: z.boolean().describe('the owner left and nobody took the account over'),
    orphanedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    disabledAt: z.string().nullable(),
  })
  .openapi('ServiceAccount');
export const UserAccess = z
  .object({
    userId: z.string().uuid(),
    sessions: z.array(Credential),
    personalTokens: z.array(Credential),
    oauthGrants: z.array(OAuthGrant),
    serviceAccounts: z.array(ServiceAccount.extend({ tokens: z.array(Credential) })),
  })
  .openapi('UserAccess');
export const RevocationResult = z
  .object({ revoked: z.boolean().describe('false when it was already revoked (idempotent)') })
  .passthrough()
  .openapi('RevocationResult');
export const DisableResult = z
  .object({ serviceAccount: ServiceAccount, revokedTokens: z.array(z.string().uuid()) })
  .openapi('ServiceAccountDisabled');
export const AppApiError = z.object({ error: z.string(), error_description: z.string().optional() });
export { IntrospectionResponse };

/** Adds the app-facing API and introspection to the OpenAPI registry. */
export function registerAppApiPaths(registry: OpenAPIRegistry): void {
  const appKey = registry.registerComponent('securitySchemes', 'appApiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'tenant-scoped app API key (`roster app-key create`)',
  });
  const security = [{ [appKey.name]: [] }];
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  const error = registry.register('AppApiError', AppApiError);
  const errors = {
    400: { description: 'Invalid body (`invalid_request`)', content: json(error) },
    401: { description: 'Missing, invalid or revoked app API key (`invalid_token`)', content: json(error) },
    404: { description: 'No such user, service account or credential in this tenant', content: json(error) },
  };
  const conflict = { 409: { description: 'The user is suspended or deleted, or the service account is disabled', content: json(error) } };
  const userId = z.object({ userId: z.string().uuid() });
  const id = z.object({ id: z.string().uuid() });
  const tags = ['App API'];
  // A body is required exactly when the handler would refuse an absent one (parseBody reads it as {}).
  const body = (schema: z.ZodTypeAny) => ({ body: { required: !schema.safeParse({}).success, content: json(schema) } });
  const issued = { 201: { description: 'Issued; the secret is in this response only', content: json(IssuedCredential) } };

  registry.registerPath({ method: 'post', path: '/api/v1/users/{userId}/sessions', tags, security, summary: 'Create a session for a user', request: { params: userId, ...body(CreateSessionBody) }, responses: { ...issued, ...errors, ...conflict } });
  registry.registerPath({ method: 'post', path: '/api/v1/users/{userId}/tokens', tags, security, summary: 'Issue a personal API token', request: { params: userId, ...body(CreatePersonalTokenBody) }, responses: { ...issued, ...errors, ...conflict } });
  registry.registerPath({ method: 'post', path: '/api/v1/users/{userId}/oauth-grants', tags, security, summary: 'Record an OAuth grant the user gave an integration', request: { params: userId, ...body(CreateOAuthGrantBody) }, responses: { 201: { description: 'Recorded', content: json(OAuthGrant) }, ...errors, ...conflict } });
  registry.registerPath({ method: 'get', path: '/api/v1/users/{userId}/access', tags, security, summary: 'Everything the user owns: sessions, tokens, grants, service accounts (no secrets)', request: { params: userId }, responses: { 200: { description: 'The user\'s access', content: json(UserAccess) }, ...errors } });
  registry.registerPath({ method: 'post', path: '/api/v1/service-accounts', tags, security, summary: 'Create a service account owned by a user', request: body(CreateServiceAccountBody), responses: { 201: { description: 'Created', content: json(ServiceAccount) }, ...errors, ...conflict } });
  registry.registerPath({ method: 'get', path: '/api/v1/service-accounts', tags, security, summary: 'List service accounts', request: { query: ListServiceAccountsQuery }, responses: { 200: { description: 'Service accounts', content: json(z.object({ serviceAccounts: z.array(ServiceAccount) })) }, 400: errors[400], 401: errors[401] } });
  registry.registerPath({ method: 'post', path: '/api/v1/service-accounts/{id}/tokens', tags, security, summary: 'Issue a token for a service account', request: { params: id, ...body(CreateServiceAccountTokenBody) }, responses: { ...issued, ...errors, ...conflict } });
  registry.registerPath({ method: 'post', path: '/api/v1/service-accounts/{id}/disable', tags, security, summary: 'Disable a service account and revoke its tokens (idempotent)', request: { params: id }, responses: { 200: { description: 'Disabled', content: json(DisableResult) }, ...errors } });
  registry.registerPath({ method: 'delete', path: '/api/v1/credentials/{id}', tags, security, summary: 'Revoke a session or token (idempotent)', request: { params: id }, responses: { 200: { description: 'Revoked', content: json(RevocationResult.extend({ credential: Credential })) }, ...errors } });
  registry.registerPath({ method: 'delete', path: '/api/v1/oauth-grants/{id}', tags, security, summary: 'Revoke an OAuth grant (idempotent)', request: { params: id }, responses: { 200: { description: 'Revoked', content: json(RevocationResult.extend({ grant: OAuthGrant })) }, ...errors } });
  registry.registerPath({
    method: 'post',
    path: '/oauth2/introspect',
    tags: ['Introspection'],
    security,
    summary: 'RFC 7662 token introspection',
    description: 'Unknown, revoked or expired tokens, tokens of another tenant and tokens whose user is suspended or lacks a required role answer `{ "active": false }`.',
    request: { body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: IntrospectionRequest }, 'application/json': { schema: IntrospectionRequest } } } },
    responses: {
      200: { description: 'Introspection answer', content: json(IntrospectionResponse) },
      400: { description: '`token` missing (`invalid_request`)', content: json(error) },
      401: errors[401],
      413: { description: 'Body larger than 32 KiB', content: json(error) },
    },
  });
}
