import { NavLink, useSearchParams } from 'react-router';
import { Pager, StatusBadge } from '../../components/index.js';
import type { LifecycleState } from '../../../../core/directory/schema.js';

export const PAGE_SIZE = 25;

const STATE_LABELS: Record<LifecycleState, string> = { provisioned: 'Provisioned', active: 'Active', suspended: 'Suspended', deleted: 'Deleted' };

export function StateBadge({ state }: { state: LifecycleState }) {
  return <StatusBadge status={state} tone={state === 'provisioned' ? 'info' : undefined}>{STATE_LABELS[state]}</StatusBadge>;
}

/** Users | Groups, as links (each list is its own URL). */
export function DirectoryTabs() {
  return (
    <nav className="subnav" aria-label="Directory">
      <NavLink to="/directory" end>
        Users
      </NavLink>
      <NavLink to="/directory/groups">Groups</NavLink>
    </nav>
  );
}

/**
 * Keyset paging kept in the URL (`cursor` + `page`), so a reload or a shared link shows the same
 * page and "where you are" survives. The API hands out opaque next/prev cursors.
 */
export function useUrlPaging(prefix = '') {
  const [params, setParams] = useSearchParams();
  const cursor = params.get(`${prefix}cursor`) ?? undefined;
  const page = Math.max(1, Number(params.get(`${prefix}page`) ?? '1') || 1);
  const go = (nextCursor: string | null, nextPage: number) =>
    setParams((p) => {
      const n = new URLSearchParams(p);
      if (nextCursor && nextPage > 1) {
        n.set(`${prefix}cursor`, nextCursor);
        n.set(`${prefix}page`, String(nextPage));
      } else {
        n.delete(`${prefix}cursor`);
        n.delete(`${prefix}page`);
      }
      return n;
    });
  return { cursor, page, params, setParams, go };
}

export function UrlPager({
  paging,
  data,
  label,
  busy,
}: {
  paging: ReturnType<typeof useUrlPaging>;
  data: { next: string | null; prev: string | null; total: number; totalIsLowerBound: boolean; items: unknown[] } | undefined;
  label: string;
  busy: boolean;
}) {
  if (!data) return null;
  // A "previous" that lands on the first page drops the cursor (the API's first page is cursor-less).
  const prevPage = Math.max(1, paging.page - 1);
  return (
    <>
      <Pager
        page={paging.page}
        pageSize={PAGE_SIZE}
        shown={data.items.length}
        total={data.total}
        hasPrev={data.prev !== null && paging.page > 1}
        hasNext={data.next !== null}
        onPrev={() => paging.go(prevPage === 1 ? null : data.prev, prevPage)}
        onNext={() => paging.go(data.next, paging.page + 1)}
        onFirst={() => paging.go(null, 1)}
        busy={busy}
        label={label}
      />
      {data.totalIsLowerBound && <p className="muted small">More than {data.total.toLocaleString()} match: refine the search to narrow it down.</p>}
    </>
  );
}
