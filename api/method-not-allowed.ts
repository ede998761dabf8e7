import type { NextFunction, Request, Response, Router } from 'express';

/** What express's router keeps per registered route (router 2.x `Layer` and `Route`). */
interface RouteLayer {
  match(path: string): boolean;
  route?: { path: unknown; methods: Record<string, boolean | undefined>; _methods(): string[] };
}

/**
 * The methods the routers' own routes answer on `path` (HEAD wherever GET is), read from the
 * routers themselves so the answer cannot drift from the routing table. Routes registered with
 * `all()` or a RegExp (the portal's catch-all) are not resources with a method list: skipped.
 */
export function allowedMethods(routers: readonly Router[], path: string): string[] {
  const matching: { literal: boolean; methods: string[] }[] = [];
  for (const router of routers) {
    for (const layer of router.stack as unknown as RouteLayer[]) {
      const route = layer.route;
      if (!route || typeof route.path !== 'string' || route.methods._all) continue;
      if (layer.match(path)) matching.push({ literal: !route.path.includes(':') && !route.path.includes('*'), methods: route._methods() });
    }
  }
  // A literal endpoint (`/Users/.search`) is its own resource, not an instance of `/Users/:id`.
  const resource = matching.some((m) => m.literal) ? matching.filter((m) => m.literal) : matching;
  return [...new Set(resource.flatMap((m) => m.methods))];
}

/**
 * RFC 9110 §15.5.6: a method the target resource does not support is 405 with an `Allow` header
 * listing the ones it does (not 404: the resource exists). Mounted after the routers it reads;
 * paths no route has fall through to the surface's 404. `send` writes the surface's error body.
 */
export function methodNotAllowed(routers: () => readonly Router[], send: (res: Response, allow: readonly string[]) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const allow = allowedMethods(routers(), req.path);
    if (allow.length === 0 || allow.includes(req.method)) {
      next();
      return;
    }
    res.set('Allow', allow.join(', '));
    send(res, allow);
  };
}
