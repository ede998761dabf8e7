import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import type { AuditPage, ChainVerification, ExportFormat } from '../../../../core/audit/schema.js';
import { api } from '../../lib/api.js';

/** The filters as the page keeps them (URL search params) and the API reads them. */
export interface AuditFilters {
  actorType?: string;
  actorId?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  /** ISO instants. */
  from?: string;
  to?: string;
}

export const auditKeys = {
  page: (filters: AuditFilters, cursor: string | null) => ['audit', 'page', filters, cursor] as const,
};

export function useAuditPage(filters: AuditFilters, cursor: string | null, limit = 50) {
  return useQuery({
    queryKey: auditKeys.page(filters, cursor),
    queryFn: ({ signal }) => api.get<AuditPage>('/audit-events', { ...filters, cursor, limit }, { signal }),
    placeholderData: keepPreviousData,
  });
}

/** A plain link: the browser downloads the streamed export itself (any size, nothing buffered here). */
export function exportUrl(filters: AuditFilters, format: ExportFormat): string {
  return api.url('/audit-events/export', { ...filters, format });
}

export function useVerifyChain() {
  return useMutation({ mutationFn: () => api.post<ChainVerification>('/audit-events/verify', {}) });
}
