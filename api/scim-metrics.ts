import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Metrics, scimResource } from '../core/metrics.js';

/**
 * Counts and times one SCIM request when its response finishes. `path` is below /scim/v2; the
 * tenant is known once the request authenticated (`tenant()` answers undefined before that).
 */
export function observeScimRequest(metrics: Metrics, req: IncomingMessage, res: ServerResponse, path: string, tenant: () => string | undefined): void {
  const start = performance.now();
  res.once('finish', () => {
    const resource = scimResource(path);
    const method = req.method ?? '';
    metrics.scimRequests.inc({ tenant: tenant() ?? 'unauthenticated', resource, method, status: String(res.statusCode) });
    metrics.scimDuration.observe({ resource, method }, (performance.now() - start) / 1000);
  });
}
