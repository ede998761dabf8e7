import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createApiClient, describeError, toQuery } from '../../portal/src/lib/api.js';
import { FIRST_LOAD_LIMIT_GZIP, measurePortalFirstLoad } from '../../scripts/lib/bench-portal-size.js';

/** A real HTTP server that records what the portal's client sends and answers as the API does. */
let server: Server;
let base: string;
const seen: { method: string; url: string; csrf: string | undefined; contentType: string | undefined; body: string }[] = [];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => resolve(text));
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void readBody(req).then((body) => {
      seen.push({ method: req.method!, url: req.url!, csrf: req.headers['x-csrf-token'] as string | undefined, contentType: req.headers['content-type'], body });
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/portal/api/ok') return json(200, { hello: 'world' });
      if (path === '/portal/api/empty') {
        res.writeHead(204);
        return res.end();
      }
      if (path === '/portal/api/locked') return json(429, { error: 'locked', message: 'Too many failed sign-ins.' }, { 'retry-after': '600' });
      if (path === '/portal/api/invalid') return json(400, { error: 'invalid_request', message: 'email: Invalid email', issues: [{ path: ['email'], message: 'Invalid email' }] });
      if (path === '/portal/api/gone') return json(401, { error: 'unauthenticated' });
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/portal/api`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('portal API client (lib/api.ts) over real HTTP', () => {
  it('sends the CSRF token on state-changing requests only, JSON bodies, and query strings without empty values', async () => {
    const client = createApiClient(base);
    client.setCsrfToken('csrf-123');
    seen.length = 0;
    expect(await client.get('/ok', { search: 'ann', cursor: undefined, state: '' })).toEqual({ hello: 'world' });
    expect(await client.post('/ok', { a: 1 })).toEqual({ hello: 'world' });
    expect(await client.del('/empty')).toBeUndefined();
    expect(seen.map((s) => [s.method, s.url, s.csrf])).toEqual([
      ['GET', '/portal/api/ok?search=ann', undefined],
      ['POST', '/portal/api/ok', 'csrf-123'],
      ['DELETE', '/portal/api/empty', 'csrf-123'],
    ]);
    expect(seen[1]).toMatchObject({ contentType: 'application/json', body: '{"a":1}' });
    client.setCsrfToken(null);
    await client.post('/ok');
    expect(seen.at(-1)?.csrf).toBeUndefined();
  });

  it('turns refusals into ApiError with code, message, field issues and Retry-After, and readable sentences', async () => {
    const client = createApiClient(base);
    const locked = await client.post('/locked', {}).catch((err: unknown) => err);
    expect(locked).toBeInstanceOf(ApiError);
    expect(locked).toMatchObject({ status: 429, code: 'locked', message: 'Too many failed sign-ins.', retryAfter: 600 });
    expect(describeError(locked)).toBe('Too many failed sign-ins. Try again in 10 minutes.');

    const invalid = (await client.post('/invalid', {}).catch((err: unknown) => err)) as ApiError;
    expect(invalid.issues).toEqual([{ path: ['email'], message: 'Invalid email' }]);

    // A non-JSON error page (a proxy in front of Roster) still becomes an ApiError.
    const proxy = (await client.get('/elsewhere').catch((err: unknown) => err)) as ApiError;
    expect(proxy).toMatchObject({ status: 502, code: 'http_502' });
    expect(describeError(proxy)).toBe('The request failed (HTTP 502).');
  });

  it('tells the app when the session is gone (401 unauthenticated), so it can send the person to sign-in', async () => {
    const client = createApiClient(base);
    const calls: string[] = [];
    const stop = client.onUnauthenticated((path) => calls.push(path));
    await expect(client.get('/gone', { cursor: 'abc' })).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
    await expect(client.post('/locked')).rejects.toMatchObject({ status: 429 });
    expect(calls).toEqual(['/gone']);
    stop();
    await expect(client.get('/gone')).rejects.toBeInstanceOf(ApiError);
    expect(calls).toEqual(['/gone']);
  });

  it('builds query strings', () => {
    expect(toQuery({ a: 'x y', b: 2, c: false, d: null, e: undefined, f: '' })).toBe('?a=x+y&b=2&c=false');
    expect(toQuery({})).toBe('');
  });
});

describe('portal build', () => {
  it('first load stays under 250 KB of gzipped JavaScript, and pages are lazy chunks outside it', () => {
    const result = measurePortalFirstLoad({ build: 'if-stale' });
    expect(result.initialJs.length).toBeGreaterThan(0);
    expect(result.initialJsGzipBytes).toBeGreaterThan(50 * 1024); // React is in there: the measurement is real.
    expect(result.initialJsGzipBytes).toBeLessThanOrEqual(FIRST_LOAD_LIMIT_GZIP);
    const initial = result.initialJs.map((f) => f.file).join(' ');
    // Pages are fetched when opened, not on the first load.
    for (const page of ['sign-in-page', 'setup-page', 'status-page']) expect(initial).not.toContain(page);
  });
});
