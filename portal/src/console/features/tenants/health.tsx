import { StatusBadge } from '../../../components/index.js';
import { formatRelative } from '../../../lib/format.js';

/** "4.2 %" with a badge once errors are more than occasional; "—" without traffic. */
export function ErrorRate({ requests, errors, rate }: { requests: number; errors: number; rate: number }) {
  if (requests === 0) return <span className="muted">no requests</span>;
  const percent = `${(rate * 100).toFixed(rate > 0 && rate < 0.01 ? 2 : 1)} %`;
  const title = `${errors.toLocaleString()} of ${requests.toLocaleString()} requests in the last hour failed`;
  if (rate >= 0.2) return <StatusBadge status="error" tone="error"><span title={title}>{percent} errors</span></StatusBadge>;
  if (rate >= 0.02) return <StatusBadge status="degraded" tone="warning"><span title={title}>{percent} errors</span></StatusBadge>;
  return <span title={title}>{percent}</span>;
}

export function LastRequest({ at }: { at: string | null }) {
  if (!at) return <span className="muted">never</span>;
  return <time dateTime={at} title={new Date(at).toLocaleString()}>{formatRelative(at)}</time>;
}

/** A count that matters when not zero (stuck, held, backlog). */
export function AlertCount({ value, status }: { value: number; status: 'stuck' | 'held' | 'backlog' }) {
  if (value === 0) return <span className="muted">0</span>;
  return <StatusBadge status={status === 'backlog' ? 'pending' : status} tone={status === 'backlog' ? 'info' : 'warning'}>{value.toLocaleString()}</StatusBadge>;
}
