import { Router } from 'express';
import { FleetHealth, StuckQuery } from '../../core/fleet/schema.js';
import { fleetHealth } from '../../core/fleet/service.js';
import { type ConsoleDeps, consoleRoute, consoleRoutes } from './route.js';

/** Fleet health across tenants: outbox backlog, relay, stuck and held identities (ids only). */
export function createConsoleFleetRouter(deps: ConsoleDeps): Router {
  const router = Router();
  consoleRoutes(router, deps, [
    consoleRoute({
      method: 'get',
      path: '/fleet',
      summary: 'Outbox backlog and its oldest row, relay health, stuck and held identities, per-tenant counts',
      query: StuckQuery,
      response: FleetHealth,
      handler: async ({ db, query }) => ({ status: 200, body: await fleetHealth(db, query.stuckAfterMinutes) }),
    }),
  ]);
  return router;
}
