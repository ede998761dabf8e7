import { useCallback, useState, type ReactNode } from 'react';
import { Button } from './button.js';
import { EmptyState, Spinner } from './feedback.js';

export interface Column<Row> {
  /** Column id (also the default cell: row[key]). */
  key: string;
  header: ReactNode;
  render?: (row: Row) => ReactNode;
  /** e.g. 'num' (right-aligned), 'nowrap', 'hide-narrow' (hidden under 900px). */
  className?: string;
}

/**
 * A table of server rows. `caption` names the table for screen readers (visually hidden unless
 * `showCaption`); the empty state explains what to do next; `loading` keeps the old rows visible.
 */
export function DataTable<Row>({
  columns,
  rows,
  rowKey,
  caption,
  showCaption = false,
  empty,
  loading = false,
  onRowClick,
}: {
  columns: Column<Row>[];
  rows: Row[] | undefined;
  rowKey: (row: Row) => string;
  caption: string;
  showCaption?: boolean;
  empty?: ReactNode;
  loading?: boolean;
  onRowClick?: (row: Row) => void;
}) {
  if (!rows) return <Spinner label={`Loading ${caption.toLowerCase()}…`} />;
  if (rows.length === 0 && !loading) return <>{empty ?? <EmptyState title="Nothing here yet" />}</>;
  return (
    <div className="table-wrap" aria-busy={loading || undefined}>
      <table className="table">
        <caption className={showCaption ? 'table-caption' : 'visually-hidden'}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} scope="col" className={column.className}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} className={onRowClick ? 'row-clickable' : undefined} onClick={onRowClick ? () => onRowClick(row) : undefined}>
              {columns.map((column) => (
                <td key={column.key} className={column.className}>
                  {column.render ? column.render(row) : cellText((row as Record<string, unknown>)[column.key])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

/** Where a keyset-paged list is: the cursor of the shown page and those of the pages before it. */
export interface PagerState {
  key: string;
  cursor: string | null;
  history: (string | null)[];
}

const startAt = (key: string): PagerState => ({ key, cursor: null, history: [] });

/** Pure steps of the pager (a changed `key`, i.e. new filters, starts again at the first page). */
export const pagerSteps = {
  view: (s: PagerState, key: string): PagerState => (s.key === key ? s : startAt(key)),
  next: (s: PagerState, key: string, nextCursor: string): PagerState => {
    const base = pagerSteps.view(s, key);
    return { key, cursor: nextCursor, history: [...base.history, base.cursor] };
  },
  prev: (s: PagerState, key: string): PagerState => {
    const base = pagerSteps.view(s, key);
    if (base.history.length === 0) return startAt(key);
    return { key, cursor: base.history[base.history.length - 1] ?? null, history: base.history.slice(0, -1) };
  },
};

/**
 * Keyset paging state: the cursor of the page being shown and the cursors of the pages before it,
 * so "Previous" works even when the API only hands out `nextCursor`. Reset it when filters change
 * (pass the filters as `resetKey`).
 *
 *   const pager = useKeysetPager(JSON.stringify({ search, state }));
 *   const list = useQuery({ queryKey: ['users', search, state, pager.cursor], queryFn: ... });
 *   <Pager page={pager.page} hasPrev={pager.hasPrev} hasNext={!!list.data?.nextCursor}
 *          onPrev={pager.prev} onNext={() => pager.next(list.data!.nextCursor!)} />
 */
export function useKeysetPager(resetKey = '') {
  const [state, setState] = useState<PagerState>(() => startAt(resetKey));
  const current = pagerSteps.view(state, resetKey);
  const next = useCallback((nextCursor: string) => setState((s) => pagerSteps.next(s, resetKey, nextCursor)), [resetKey]);
  const prev = useCallback(() => setState((s) => pagerSteps.prev(s, resetKey)), [resetKey]);
  const first = useCallback(() => setState(startAt(resetKey)), [resetKey]);
  return { cursor: current.cursor, page: current.history.length + 1, hasPrev: current.history.length > 0, next, prev, first };
}

export type KeysetPagerState = ReturnType<typeof useKeysetPager>;

/**
 * The Pager of a list paged with useKeysetPager, wired to it ("next" follows the API's `next`
 * cursor); nothing while the list fits on one page.
 */
export function KeysetPager({ pager, next, shown, pageSize, busy, label }: { pager: KeysetPagerState; next: string | null | undefined; shown: number; pageSize?: number; busy: boolean; label?: string }) {
  if (!pager.hasPrev && !next) return null;
  return <Pager page={pager.page} pageSize={pageSize} shown={shown} hasPrev={pager.hasPrev} hasNext={!!next} onPrev={pager.prev} onNext={() => next && pager.next(next)} onFirst={pager.first} busy={busy} label={label} />;
}

/** An estimate to two significant digits (5,051 → 5,100): more digits would claim a precision it lacks. */
function roughly(n: number): number {
  if (n < 100) return Math.round(n);
  const unit = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.round(n / unit) * unit;
}

/**
 * Keyset pager: previous/next and where the user is ("Page 3 · rows 101–150 of about 12,000").
 * Works with `useKeysetPager` or with next/prev cursors straight from the API.
 */
export function Pager({
  page,
  pageSize,
  shown,
  total,
  hasPrev,
  hasNext,
  onPrev,
  onNext,
  onFirst,
  busy = false,
  label = 'Pages',
  approximate = false,
}: {
  page: number;
  pageSize?: number;
  shown?: number;
  total?: number | null;
  hasPrev: boolean;
  hasNext: boolean;
  onPrev: () => void;
  onNext: () => void;
  onFirst?: () => void;
  busy?: boolean;
  label?: string;
  /** `total` is an estimate: "of about N". */
  approximate?: boolean;
}) {
  let where = `Page ${page.toLocaleString()}`;
  if (pageSize && shown !== undefined && shown > 0) {
    const from = (page - 1) * pageSize + 1;
    where += ` · rows ${from.toLocaleString()}–${(from + shown - 1).toLocaleString()}`;
  }
  if (total !== undefined && total !== null) where += approximate ? ` of about ${roughly(total).toLocaleString()}` : ` of ${total.toLocaleString()}`;
  return (
    <nav className="pager" aria-label={label}>
      <span className="pager-where" aria-live="polite">
        {where}
      </span>
      <span className="pager-buttons">
        {onFirst && page > 2 && (
          <Button size="small" onClick={onFirst} disabled={busy}>
            First
          </Button>
        )}
        <Button size="small" onClick={onPrev} disabled={!hasPrev || busy}>
          ← Previous
        </Button>
        <Button size="small" onClick={onNext} disabled={!hasNext || busy}>
          Next →
        </Button>
      </span>
    </nav>
  );
}
