import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { DeliveryLogEntry, DeliveryLogPage, RedeliverBody, RedeliverResult, WebhookEndpointView } from '../../../../core/webhooks/schema.js';
import { Button, DataTable, Dialog, EmptyState, ErrorBanner, Pager, StatusBadge, useKeysetPager, useToast, type Column } from '../../components/index.js';
import { api, describeError } from '../../lib/api.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';

const PAGE_SIZE = 25;
const logKey = (endpointId: string) => ['portal', 'settings', 'webhooks', endpointId, 'deliveries'] as const;

function useDeliveryLog(endpointId: string, before: string | null) {
  return useQuery({
    queryKey: [...logKey(endpointId), before],
    queryFn: () => api.get<DeliveryLogPage>(`/settings/webhooks/${endpointId}/deliveries`, { limit: PAGE_SIZE, ...(before ? { before } : {}) }),
    placeholderData: keepPreviousData,
  });
}

function useRedeliver(endpointId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: RedeliverBody) => api.post<RedeliverResult>(`/settings/webhooks/${endpointId}/redeliver`, body),
    onSuccess: () => client.invalidateQueries({ queryKey: logKey(endpointId) }),
  });
}

const tones = { delivered: 'ok', failing: 'error', pending: 'info' } as const;

/**
 * One endpoint's delivery log (newest first, paged on the server): status, HTTP answer, latency,
 * attempts and the last error; admins can deliver an event again (same event id, so the receiver
 * can tell it has seen it).
 */
export function WebhookDeliveriesDialog({ endpoint, canRedeliver, onClose }: { endpoint: WebhookEndpointView | null; canRedeliver: boolean; onClose: () => void }) {
  return (
    <Dialog open={endpoint !== null} onClose={onClose} title="Deliveries" wide>
      {endpoint && <DeliveryLog endpoint={endpoint} canRedeliver={canRedeliver} />}
    </Dialog>
  );
}

function DeliveryLog({ endpoint, canRedeliver }: { endpoint: WebhookEndpointView; canRedeliver: boolean }) {
  const pager = useKeysetPager(endpoint.id);
  const log = useDeliveryLog(endpoint.id, pager.cursor);
  const redeliver = useRedeliver(endpoint.id);
  const toast = useToast();
  const again = (row: DeliveryLogEntry) =>
    redeliver.mutate(
      { eventId: row.eventId },
      {
        onSuccess: () => toast(`Event ${row.eventType} queued for delivery again`, 'success'),
        onError: (err) => toast(`Could not redeliver: ${describeError(err)}`, 'error'),
      },
    );
  const columns: Column<DeliveryLogEntry>[] = [
    {
      key: 'status',
      header: 'Status',
      className: 'nowrap',
      render: (d) => (
        <>
          <StatusBadge status={d.status} tone={tones[d.status]} /> <span className="muted">×{d.attempts}</span>
        </>
      ),
    },
    { key: 'eventType', header: 'Event', className: 'nowrap', render: (d) => <code title={d.eventId}>{d.eventType}</code> },
    { key: 'answer', header: 'Answer', className: 'nowrap', render: (d) => (d.httpStatus === null ? '—' : `${d.httpStatus}`) + (d.latencyMs === null ? '' : ` in ${d.latencyMs} ms`) },
    { key: 'lastAttemptAt', header: 'Last attempt', className: 'nowrap hide-narrow', render: (d) => (d.lastAttemptAt ? <span title={formatDateTime(d.lastAttemptAt)}>{formatRelative(d.lastAttemptAt)}</span> : '—') },
    { key: 'lastError', header: 'Last error', render: (d) => d.lastError ?? '' },
    ...(canRedeliver
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (d: DeliveryLogEntry) => (
              <Button size="small" onClick={() => again(d)} disabled={redeliver.isPending} aria-label={`Redeliver ${d.eventType} ${d.eventId}`}>
                Redeliver
              </Button>
            ),
          },
        ]
      : []),
  ];
  return (
    <>
      <p>
        Deliveries to <code>{endpoint.url}</code>, newest first.
      </p>
      <ErrorBanner error={log.error} title="The delivery log could not be loaded" onRetry={() => void log.refetch()} />
      <DataTable
        caption={`Deliveries to ${endpoint.url}`}
        columns={columns}
        rows={log.data?.data}
        rowKey={(d) => d.eventId}
        loading={log.isFetching}
        empty={<EmptyState title="No deliveries yet">Events appear here once Roster has tried to deliver them.</EmptyState>}
      />
      <Pager
        page={pager.page}
        pageSize={PAGE_SIZE}
        shown={log.data?.data.length ?? 0}
        hasPrev={pager.hasPrev}
        hasNext={!!log.data?.nextCursor}
        onPrev={pager.prev}
        onNext={() => pager.next(log.data!.nextCursor!)}
        onFirst={pager.first}
        busy={log.isFetching}
        label="Delivery pages"
      />
    </>
  );
}
