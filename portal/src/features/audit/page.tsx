import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import type { AuditEvent, ChainVerification } from '../../../../core/audit/schema.js';
import { Banner, Button, DataTable, EmptyState, ErrorBanner, Page, Pager, Section, SelectField, TextField, type Column } from '../../components/index.js';
import { formatDateTime, formatNumber } from '../../lib/format.js';
import { type AuditFilters, exportUrl, useAuditPage, useVerifyChain } from './api.js';
import './audit.css';

const FILTER_KEYS = ['actorType', 'actorId', 'action', 'targetType', 'targetId', 'from', 'to'] as const;
const PAGE_SIZE = 50;

const actorTypes = [
  { value: '', label: 'Anyone' },
  { value: 'user', label: 'A portal user' },
  { value: 'scim', label: 'The identity provider (SCIM)' },
  { value: 'system', label: 'Roster or the app (system)' },
  { value: 'operator', label: 'A vendor operator' },
];

/** `2026-11-30T10:00` (the reader's local time, from <input type=datetime-local>) ⇄ ISO instant. */
const toInstant = (local: string) => (local ? new Date(local).toISOString() : '');
function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function readFilters(params: URLSearchParams): AuditFilters {
  const f: AuditFilters = {};
  for (const key of FILTER_KEYS) {
    const v = params.get(key);
    if (v) f[key] = v;
  }
  return f;
}

/**
 * The audit log: every change in the tenant, newest first, filtered by actor, action, target and
 * time (kept in the URL, so a filtered view can be shared), paged on the server; the same filters
 * export as CSV or JSON; "Verify chain" recomputes the hash chain and names the first broken link.
 */
export default function AuditPage() {
  const [params, setParams] = useSearchParams();
  const filters = readFilters(params);
  const filterKey = JSON.stringify(filters);
  const [pageState, setPageState] = useState<{ key: string; cursor: string | null; page: number }>({ key: filterKey, cursor: null, page: 1 });
  const paging = pageState.key === filterKey ? pageState : { key: filterKey, cursor: null, page: 1 };
  const query = useAuditPage(filters, paging.cursor, PAGE_SIZE);
  const verify = useVerifyChain();

  const [draft, setDraft] = useState(() => ({ ...filters, from: toLocalInput(filters.from), to: toLocalInput(filters.to) }));
  const [draftError, setDraftError] = useState<string | null>(null);
  const setField = (key: (typeof FILTER_KEYS)[number], value: string) => setDraft((d) => ({ ...d, [key]: value }));

  const apply = (event: FormEvent) => {
    event.preventDefault();
    const from = toInstant(draft.from ?? '');
    const to = toInstant(draft.to ?? '');
    if (from && to && from >= to) {
      setDraftError('"From" must be before "To".');
      return;
    }
    setDraftError(null);
    const next = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const value = key === 'from' ? from : key === 'to' ? to : (draft[key] ?? '').trim();
      if (value) next.set(key, value);
    }
    setParams(next);
  };
  const clear = () => {
    setDraft({ from: '', to: '' });
    setDraftError(null);
    setParams(new URLSearchParams());
  };

  const columns: Column<AuditEvent>[] = [
    { key: 'occurredAt', header: 'When', className: 'nowrap', render: (e) => <time dateTime={e.occurredAt}>{formatDateTime(e.occurredAt)}</time> },
    { key: 'actor', header: 'Actor', render: (e) => <ActorCell event={e} /> },
    { key: 'action', header: 'Action', render: (e) => <code className="audit-action">{e.action}</code> },
    { key: 'target', header: 'Target', className: 'hide-narrow', render: (e) => (e.target.type ? <span>{e.target.type}{e.target.id ? <> <ShortId id={e.target.id} /></> : null}</span> : <span className="muted">—</span>) },
    { key: 'seq', header: 'Seq', className: 'num', render: (e) => (e.seq === null ? <span className="muted" title="Not linked into the chain yet">pending</span> : `#${e.seq}`) },
    { key: 'data', header: 'Details', render: (e) => <DetailsCell event={e} /> },
  ];

  const data = query.data;
  const filtered = Object.keys(filters).length > 0;
  return (
    <Page
      title="Audit log"
      description="Every change in your organisation: who, what, when, before and after. Filter it, export it, and check that nobody has altered it."
      actions={
        <>
          <a className="btn btn-secondary" href={exportUrl(filters, 'csv')} download data-testid="export-csv">
            Export CSV
          </a>
          <a className="btn btn-secondary" href={exportUrl(filters, 'json')} download data-testid="export-json">
            Export JSON
          </a>
          <Button variant="primary" busy={verify.isPending} busyLabel="Verifying the chain…" onClick={() => verify.mutate()}>
            Verify chain
          </Button>
        </>
      }
    >
      <VerificationResult result={verify.data} error={verify.error} pending={verify.isPending} />

      <Section title="Filters">
        <form className="audit-filters" onSubmit={apply} aria-label="Audit log filters">
          <SelectField label="Actor" options={actorTypes} value={draft.actorType ?? ''} onChange={(e) => setField('actorType', e.target.value)} />
          <TextField label="Actor id" hint="A user id, connection id or operator" value={draft.actorId ?? ''} onChange={(e) => setField('actorId', e.target.value)} />
          <TextField label="Action" hint="Exact, or a prefix ending in * (role.*)" value={draft.action ?? ''} onChange={(e) => setField('action', e.target.value)} />
          <TextField label="Target type" hint="user, group, tenant, …" value={draft.targetType ?? ''} onChange={(e) => setField('targetType', e.target.value)} />
          <TextField label="Target id" value={draft.targetId ?? ''} onChange={(e) => setField('targetId', e.target.value)} />
          <TextField label="From" type="datetime-local" value={draft.from ?? ''} onChange={(e) => setField('from', e.target.value)} />
          <TextField label="To" type="datetime-local" value={draft.to ?? ''} onChange={(e) => setField('to', e.target.value)} error={draftError ?? undefined} />
          <div className="form-actions audit-filter-actions">
            <Button type="submit" variant="primary">
              Apply filters
            </Button>
            <Button onClick={clear} disabled={!filtered}>
              Clear
            </Button>
          </div>
        </form>
      </Section>

      <Section title="Events">
        {query.error ? <ErrorBanner error={query.error} title="The audit log could not be loaded" onRetry={() => void query.refetch()} /> : null}
        <DataTable
          caption="Audit events, newest first"
          columns={columns}
          rows={data?.data}
          rowKey={(e) => String(e.id)}
          loading={query.isFetching}
          empty={
            <EmptyState title={filtered ? 'No events match these filters' : 'No events yet'}>
              {filtered ? 'Widen the time range or clear a filter.' : 'Events appear here as soon as your identity provider or an admin changes something.'}
            </EmptyState>
          }
        />
        {data && (data.data.length > 0 || paging.page > 1) && (
          <Pager
            label="Audit log pages"
            page={paging.page}
            pageSize={PAGE_SIZE}
            shown={data.data.length}
            hasPrev={paging.page > 1 && data.prev !== null}
            hasNext={data.next !== null}
            busy={query.isFetching}
            onPrev={() => setPageState({ key: filterKey, cursor: data.prev, page: Math.max(1, paging.page - 1) })}
            onNext={() => setPageState({ key: filterKey, cursor: data.next, page: paging.page + 1 })}
            onFirst={() => setPageState({ key: filterKey, cursor: null, page: 1 })}
          />
        )}
      </Section>
    </Page>
  );
}

function ActorCell({ event }: { event: AuditEvent }) {
  const label = actorTypes.find((a) => a.value === event.actor.type)?.label ?? event.actor.type;
  return (
    <span>
      <span className="badge badge-neutral">{event.actor.type}</span>
      {event.actor.id ? <> <ShortId id={event.actor.id} /></> : <span className="visually-hidden"> {label}</span>}
    </span>
  );
}

/** Long ids (uuids, workflow ids) shortened to their ends; the whole id is in the title and the details. */
function ShortId({ id }: { id: string }) {
  const short = id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id;
  return (
    <span className="muted audit-id" title={id}>
      {short}
      {short !== id && <span className="visually-hidden"> ({id})</span>}
    </span>
  );
}

function DetailsCell({ event }: { event: AuditEvent }) {
  const keys = Object.keys(event.data);
  if (keys.length === 0) return <span className="muted">—</span>;
  return (
    <details className="audit-details">
      <summary>{keys.slice(0, 3).join(', ')}{keys.length > 3 ? '…' : ''}</summary>
      <pre>{JSON.stringify({ actor: event.actor, target: event.target, ...(event.requestId ? { requestId: event.requestId } : {}), data: event.data }, null, 2)}</pre>
      {event.hash && <p className="muted audit-id">hash {event.hash}</p>}
    </details>
  );
}

function VerificationResult({ result, error, pending }: { result: ChainVerification | undefined; error: unknown; pending: boolean }) {
  if (pending) return <Banner title="Verifying the hash chain…">Linking pending events, then recomputing every link from the first event.</Banner>;
  if (error) return <ErrorBanner error={error} title="The chain could not be verified" />;
  if (!result) return null;
  if (result.intact) {
    return (
      <div data-testid="verify-result">
        <Banner tone="success" title="Chain intact">
          All {formatNumber(result.verified)} linked events verify, from the first to the newest (checked {formatDateTime(result.checkedAt)}).
          {result.pending > 0 ? ` ${formatNumber(result.pending)} events written during the check will be linked next.` : ''}
        </Banner>
      </div>
    );
  }
  const broken = result.firstBroken!;
  return (
    <div className="banner banner-error" role="alert" data-testid="verify-result">
      <div>
        <strong>Chain broken at event #{broken.seq}</strong>
        <p>{broken.explanation}.</p>
        <p>
          {formatNumber(result.verified)} events before it verify. Events from #{broken.seq} on cannot be trusted: keep an export of the log and tell your security team.
        </p>
        <dl className="facts audit-evidence">
          <dt>First broken link</dt>
          <dd>#{broken.seq} ({broken.reason.replace(/_/g, ' ')})</dd>
          {broken.expected.hash && (
            <>
              <dt>Expected hash</dt>
              <dd><code>{broken.expected.hash}</code></dd>
              <dt>Stored hash</dt>
              <dd><code>{broken.found.hash ?? '—'}</code></dd>
            </>
          )}
          {broken.reason === 'missing_event' && (
            <>
              <dt>Expected event</dt>
              <dd>#{broken.expected.seq}</dd>
              <dt>Found instead</dt>
              <dd>#{broken.found.seq}</dd>
            </>
          )}
        </dl>
      </div>
    </div>
  );
}

