import { useEffect, useState } from 'react';

interface Readiness {
  status: string;
  checks: Record<string, string>;
}

type Load = { state: 'loading' } | { state: 'loaded'; ready: boolean; body: Readiness } | { state: 'failed'; message: string };

/**
 * The operator's first page: is this Roster ready, and where are its surfaces. The tenant admin
 * portal (connections, approvals, reviews, audit) builds on this shell in later work.
 */
export function StatusPage() {
  const [load, setLoad] = useState<Load>({ state: 'loading' });

  useEffect(() => {
    let cancelled = false;
    const check = async () => {
      try {
        const res = await fetch('/readyz');
        const body = (await res.json()) as Readiness;
        if (!cancelled) setLoad({ state: 'loaded', ready: res.ok, body });
      } catch (err) {
        if (!cancelled) setLoad({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
      }
    };
    void check();
    const timer = setInterval(() => void check(), 5000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);

  const scimBase = `${window.location.origin}/scim/v2`;
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '3rem auto', lineHeight: 1.5 }}>
      <h1>Roster</h1>
      <section aria-labelledby="status-heading">
        <h2 id="status-heading">Status</h2>
        {load.state === 'loading' && <p>Checking…</p>}
        {load.state === 'failed' && <p role="alert">Unreachable: {load.message}</p>}
        {load.state === 'loaded' && (
          <>
            <p data-testid="readiness">{load.ready ? 'Ready' : 'Not ready'}</p>
            <ul>
              {Object.entries(load.body.checks).map(([name, value]) => (
                <li key={name} data-testid={`check-${name}`}>
                  {name}: {value}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <section aria-labelledby="surfaces-heading">
        <h2 id="surfaces-heading">Surfaces</h2>
        <ul>
          <li>
            SCIM 2.0 base URL for identity providers: <code data-testid="scim-base">{scimBase}</code>
          </li>
          <li>
            <a href="/openapi.json">OpenAPI description</a> of SCIM, the app API and introspection
          </li>
        </ul>
      </section>
    </main>
  );
}
