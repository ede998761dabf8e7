import { useRef } from 'react';
import { useSearchParams } from 'react-router';
import { Pager } from './data-table.js';

/**
 * Keyset paging kept in the URL (`cursor` + `page`, optionally prefixed), so a reload or a shared
 * link shows the same page and "where you are" survives. The API hands out opaque next/prev
 * cursors; changing a filter should drop them (`go(null, 1)`).
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

export type UrlPaging = ReturnType<typeof useUrlPaging>;

/** What a keyset-paged API answers (`total` may be null on pages after the first). */
export interface KeysetPageData {
  next: string | null;
  prev: string | null;
  total: number | null;
  totalIsLowerBound?: boolean;
  totalIsEstimate?: boolean;
  items: unknown[];
}

/**
 * The pager under a server-paged list whose position lives in the URL. An API that counts only on
 * the first page answers `total: null` after it; the count seen for the same `countKey` (the
 * list's filters) is kept meanwhile.
 */
export function UrlPager({
  paging,
  data,
  label,
  busy,
  pageSize,
  countKey = '',
}: {
  paging: UrlPaging;
  data: KeysetPageData | undefined;
  label: string;
  busy: boolean;
  pageSize: number;
  countKey?: string;
}) {
  const known = useRef<{ key: string; total: number; lowerBound: boolean; estimate: boolean } | undefined>(undefined);
  if (data && data.total !== null) known.current = { key: countKey, total: data.total, lowerBound: data.totalIsLowerBound ?? false, estimate: data.totalIsEstimate ?? false };
  if (!data) return null;
  const count = known.current?.key === countKey ? known.current : undefined;
  // A "previous" that lands on the first page drops the cursor (the API's first page is cursor-less).
  const prevPage = Math.max(1, paging.page - 1);
  return (
    <>
      <Pager
        page={paging.page}
        pageSize={pageSize}
        shown={data.items.length}
        total={count?.total ?? null}
        approximate={count?.estimate ?? false}
        hasPrev={data.prev !== null && paging.page > 1}
        hasNext={data.next !== null}
        onPrev={() => paging.go(prevPage === 1 ? null : data.prev, prevPage)}
        onNext={() => paging.go(data.next, paging.page + 1)}
        onFirst={() => paging.go(null, 1)}
        busy={busy}
        label={label}
      />
      {count?.lowerBound && <p className="muted small">More than {count.total.toLocaleString()} match: refine the search to narrow it down.</p>}
    </>
  );
}
