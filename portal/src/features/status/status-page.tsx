import { useEffect, useState } from 'react';
import { PublicShell, StatusBadge } from '../../components/index.js';

interface Readiness {
  status: string;
  checks: Record<string, string>;
}

type Load = { state: 'loading' } | { state: 'loaded'; ready: boolean; body: Readiness } | { state: 'failed'; message: string };

/**
 * Is this Roster ready, and where are its surfaces (no sign-in needed: the same data as /readyz).
 */
export default function StatusPage() {
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
    <PublicShell title="Status" wide>
      <section aria-labelledby="status-heading" className="section">
        <h2 id="status-heading">Readiness</h2>
        {load.state === 'loading' && <p>Checking…</p>}
        {load.state === 'failed' && <p role="alert">Unreachable: {load.message}</p>}
        {load.state === 'loaded' && (
          <>
            <p>
              <StatusBadge status={load.ready ? 'ok' : 'error'}>
                <span data-testid="readiness">{load.ready ? 'Ready' : 'Not ready'}</span>
              </StatusBadge>
            </p>
            <ul className="plain-list">
              {Object.entries(load.body.checks).map(([name, value]) => (
                <li key={name} data-testid={`check-${name}`}>
                  {name}: {value}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <section aria-labelledby="surfaces-heading" className="section">
        <h2 id="surfaces-heading">Surfaces</h2>
        <ul className="plain-list">
          <li>
            SCIM 2.0 base URL for identity providers: <code data-testid="scim-base">{scimBase}</code>
          </li>
          <li>
            <a href="/openapi.json">OpenAPI description</a> of SCIM, the app API, the portal and console APIs
          </li>
          <li>
            <a href="/sign-in">Tenant portal sign-in</a> · <a href="/console">Operator console</a>
          </li>
        </ul>
      </section>
    </PublicShell>
  );
}
