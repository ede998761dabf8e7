import type { RequestHandler } from 'express';
import { type Metrics, scimResource } from '../core/metrics.js';

/** Counts and times every SCIM request; the tenant is known once the router authenticated it. */
export function scimMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    res.once('finish', () => {
      const resource = scimResource(req.path);
      const tenant = (res.locals.scim as { tenantId?: string } | undefined)?.tenantId ?? 'unauthenticated';
      metrics.scimRequests.inc({ tenant, resource, method: req.method, status: String(res.statusCode) });
      metrics.scimDuration.observe({ resource, method: req.method }, (performance.now() - start) / 1000);
    });
    next();
  };
}
