import autocannon from 'autocannon';

export interface HttpResult {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Responses that were 2xx but not what the scenario expects (e.g. a lookup finding no user). */
  wrongBodies: number;
  statusCodes: Record<string, number>;
  durationSec: number;
}

export interface Scenario {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  /** Called per request: path and/or body for this one. */
  next: () => { path?: string; body?: string };
  /** Optional cheap check of a 2xx body. */
  expect?: (body: string) => boolean;
}

/** One autocannon run: `warmupSec` discarded, then `durationSec` measured with the same scenario. */
export async function runHttp(options: {
  url: string;
  token: string;
  connections: number;
  warmupSec: number;
  durationSec: number;
  scenario: Scenario;
}): Promise<HttpResult> {
  const { scenario } = options;
  let wrongBodies = 0;
  let counting = false;
  const run = async (seconds: number) =>
    autocannon({
      url: options.url,
      connections: options.connections,
      duration: seconds,
      timeout: 30,
      requests: [
        {
          method: scenario.method,
          path: scenario.path,
          headers: {
            authorization: `Bearer ${options.token}`,
            'content-type': 'application/scim+json',
            accept: 'application/scim+json',
          },
          setupRequest: (req) => ({ ...req, ...scenario.next() }),
          ...(scenario.expect
            ? {
                onResponse: (status: number, body: string) => {
                  if (counting && status >= 200 && status < 300 && !scenario.expect!(body)) wrongBodies++;
                },
              }
            : {}),
        },
      ],
    });
  if (options.warmupSec > 0) await run(options.warmupSec);
  counting = true;
  const r = await run(options.durationSec);
  const statusCodes: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count ?? 0;
  return {
    requests: r.requests.total,
    reqPerSec: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    wrongBodies,
    statusCodes,
    durationSec: r.duration,
  };
}
