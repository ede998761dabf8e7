import { useEffect, useRef, type ReactNode } from 'react';
import { focusHeadingIfPending } from '../lib/focus.js';

/**
 * Every page: one h1 (focused by the layout after navigation), an optional description and the
 * page's actions (buttons) on the right. Sets document.title.
 */
export function Page({ title, description, actions, children, breadcrumb }: { title: string; description?: ReactNode; actions?: ReactNode; children?: ReactNode; breadcrumb?: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Roster`;
  }, [title]);
  useEffect(() => focusHeadingIfPending(heading.current), []);
  return (
    <div className="page">
      {breadcrumb && <nav aria-label="Breadcrumb" className="breadcrumb">{breadcrumb}</nav>}
      <header className="page-header">
        <div className="page-heading">
          <h1 tabIndex={-1} ref={heading}>{title}</h1>
          {description && <p className="page-description">{description}</p>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </header>
      {children}
    </div>
  );
}

/** A titled block inside a page. */
export function Section({ title, actions, children, id }: { title: string; actions?: ReactNode; children?: ReactNode; id?: string }) {
  const headingId = id ?? `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section className="section" aria-labelledby={headingId}>
      <div className="section-header">
        <h2 id={headingId}>{title}</h2>
        {actions && <div className="section-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}
