import { useEffect, type ReactNode } from 'react';

/** The frame of pages shown without a session (sign-in, setup, status): brand + one centred card. */
export function PublicShell({ title, children, wide = false, realm = 'portal' }: { title: string; children: ReactNode; wide?: boolean; realm?: 'portal' | 'console' }) {
  useEffect(() => {
    document.title = `${title} · Roster${realm === 'console' ? ' console' : ''}`;
  }, [title, realm]);
  return (
    <div className="public">
      <header className="public-header">
        <span className="brand">Roster</span>
        {realm === 'console' && <span className="realm-badge">Operator console</span>}
      </header>
      <main id="main" className={wide ? 'public-main public-main-wide' : 'public-main'}>
        <div className="card">
          <h1>{title}</h1>
          {children}
        </div>
      </main>
    </div>
  );
}
