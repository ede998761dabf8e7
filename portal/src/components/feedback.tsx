import type { ReactNode } from 'react';
import { describeError } from '../lib/api.js';

/** An indeterminate spinner; `label` is what a screen reader hears. */
export function Spinner({ label = 'Loading…', inline = false }: { label?: string; inline?: boolean }) {
  if (inline) return <span className="spinner spinner-inline" role="status" aria-label={label} />;
  return (
    <div className="spinner-block" role="status">
      <span className="spinner" aria-hidden="true" />
      <span className="spinner-text">{label}</span>
    </div>
  );
}

/** Progress of a long operation: determinate when `value` and `max` are known. */
export function Progress({ label, value, max, detail }: { label: string; value?: number; max?: number; detail?: ReactNode }) {
  const determinate = value !== undefined && max !== undefined && max > 0;
  return (
    <div className="progress">
      <div className="progress-label">
        <span>{label}</span>
        {determinate && <span className="muted">{Math.round((value / max) * 100)}%</span>}
      </div>
      {determinate ? <progress value={value} max={max} aria-label={label} /> : <progress aria-label={label} />}
      {detail && <div className="progress-detail muted">{detail}</div>}
    </div>
  );
}

/** What an empty list means and what to do next. */
export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty-state">
      <p className="empty-title">{title}</p>
      {children && <div className="empty-body">{children}</div>}
      {action && <div className="empty-action">{action}</div>}
    </div>
  );
}

/** A request failed: what happened, and a way to try again. */
export function ErrorBanner({ error, title = 'Something went wrong', onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert">
      <div>
        <strong>{title}</strong>
        <p>{describeError(error)}</p>
      </div>
      {onRetry && (
        <button type="button" className="btn btn-secondary btn-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A neutral note (information, warnings), not an error. */
export function Banner({ tone = 'info', title, children }: { tone?: 'info' | 'warning' | 'success'; title?: string; children?: ReactNode }) {
  return (
    <div className={`banner banner-${tone}`} role={tone === 'warning' ? 'note' : undefined}>
      <div>
        {title && <strong>{title}</strong>}
        {children && <div>{children}</div>}
      </div>
    </div>
  );
}

export type StatusTone = 'ok' | 'warning' | 'error' | 'neutral' | 'info';

const defaultTones: Record<string, StatusTone> = {
  active: 'ok',
  ok: 'ok',
  healthy: 'ok',
  ready: 'ok',
  live: 'ok',
  enabled: 'ok',
  invited: 'info',
  pending: 'info',
  staged: 'info',
  suspended: 'warning',
  held: 'warning',
  stuck: 'warning',
  expiring: 'warning',
  degraded: 'warning',
  deactivated: 'neutral',
  disabled: 'neutral',
  revoked: 'neutral',
  expired: 'neutral',
  deleted: 'neutral',
  failed: 'error',
  error: 'error',
  broken: 'error',
  locked: 'error',
};

/** A state shown as text plus colour (never colour alone). The tone is guessed from common words. */
export function StatusBadge({ status, tone, children }: { status: string; tone?: StatusTone; children?: ReactNode }) {
  const resolved = tone ?? defaultTones[status.toLowerCase()] ?? 'neutral';
  return <span className={`badge badge-${resolved}`}>{children ?? status}</span>;
}
