import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { z } from 'zod';
import { withTenant } from '../../core/db/pool.js';
import { AuditExportQuery, AuditListQuery, AuditPage, ChainVerification } from '../../core/audit/schema.js';
import { EXPORT_CONTENT_TYPES, exportAuditEvents, listAuditEvents, recordExport, verifyAuditLog } from '../../core/audit/service.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './router.js';

/**
 * The audit log for admins and auditors: filtered pages, streamed exports (CSV, JSON array,
 * NDJSON) and verification of the hash chain. Reading it changes nothing; an export is recorded.
 */
export function createAuditRouter(deps: PortalDeps): Router {
  const router = Router();
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/audit-events',
      roles: ['admin', 'auditor'],
      summary: "A page of the tenant's audit log, newest first (filters: actor, action, target, time)",
      query: AuditListQuery,
      response: AuditPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await listAuditEvents(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'get',
      path: '/audit-events/export',
      roles: ['admin', 'auditor'],
      summary: 'The filtered audit log as a download (csv, json or ndjson), streamed oldest first',
      description: 'Answers 200 with a `text/csv`, `application/json` (one array) or `application/x-ndjson` attachment, read and sent in batches.',
      query: AuditExportQuery,
      successStatus: 200,
      stream: true,
      handler: async ({ db, tenantId, actor, query, res }) => {
        const { format, ...filter } = query;
        await withTenant(db, tenantId, (tx) => recordExport(tx, tenantId, actor, filter, format));
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
        res.status(200);
        res.set({
          'Content-Type': EXPORT_CONTENT_TYPES[format],
          'Content-Disposition': `attachment; filename="audit-log-${stamp}.${format}"`,
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
        });
        // Readable.from pulls the next batch only when the client has taken the last one; a client
        // that goes away ends the generator (no further batches are read).
        try {
          await pipeline(Readable.from(exportAuditEvents(db, tenantId, filter, format)), res);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
          throw err;
        }
      },
    }),
    portalRoute({
      method: 'post',
      path: '/audit-events/verify',
      roles: ['admin', 'auditor'],
      summary: 'Links pending events into the hash chain and verifies it: intact, or the first broken link',
      body: z.object({}).strict().optional(),
      response: ChainVerification,
      stream: true,
      handler: async ({ db, tenantId }) => ({ status: 200, body: await verifyAuditLog(db, tenantId) }),
    }),
  ]);
  return router;
}
