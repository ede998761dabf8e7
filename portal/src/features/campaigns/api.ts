import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { z } from 'zod';
import type {
  CampaignDefinitionBody,
  CampaignDefinitionPage,
  CampaignDefinitionView,
  CampaignItemPage,
  CampaignPage,
  CampaignState,
  CampaignView,
  DecideItemsBody,
  CloseNowResult,
  ConfirmNoResponseBody,
  ConfirmNoResponseResult,
  DecideItemsResult,
  GroupOption,
  ItemQuery,
  LaunchedCampaign,
  ReassignBody,
  ReassignResult,
  ReviewerOption,
} from '../../../../core/campaigns/schema.js';
import { api, isApiError } from '../../lib/api.js';

/** Every access-review query: any change here makes all of them stale. */
const all = ['portal', 'campaigns'] as const;
const keys = {
  definitions: (cursor: string | null) => [...all, 'definitions', cursor] as const,
  definition: (id: string) => [...all, 'definition', id] as const,
  campaigns: (filter: CampaignFilter) => [...all, 'list', filter] as const,
  campaign: (id: string) => [...all, 'campaign', id] as const,
  items: (id: string, query: ItemFilter) => [...all, 'items', id, query] as const,
  reviewers: (search: string) => [...all, 'reviewers', search] as const,
  groups: (search: string) => [...all, 'groups', search] as const,
};

const enc = encodeURIComponent;
/** Progress and lists refresh this often while a campaign is being generated or is open. */
export const LIVE_INTERVAL_MS = 5_000;
const live = (state: CampaignState | undefined): boolean => state === 'generating' || state === 'open';

export function useDefinitions(cursor: string | null, enabled = true) {
  return useQuery({
    queryKey: keys.definitions(cursor),
    queryFn: ({ signal }) => api.get<CampaignDefinitionPage>('/campaign-definitions', { cursor, limit: 50 }, { signal }),
    placeholderData: keepPreviousData,
    enabled,
  });
}

export function useDefinition(id: string | undefined) {
  return useQuery({
    queryKey: keys.definition(id ?? ''),
    queryFn: ({ signal }) => api.get<CampaignDefinitionView>(`/campaign-definitions/${enc(id!)}`, undefined, { signal }),
    enabled: !!id,
  });
}

export interface CampaignFilter {
  state?: CampaignState | undefined;
  definitionId?: string | undefined;
  cursor?: string | null | undefined;
  limit?: number;
}

export function useCampaigns(filter: CampaignFilter, options: { poll?: boolean } = {}) {
  return useQuery({
    queryKey: keys.campaigns(filter),
    queryFn: ({ signal }) => api.get<CampaignPage>('/campaigns', { state: filter.state, definitionId: filter.definitionId, cursor: filter.cursor, limit: filter.limit ?? 25 }, { signal }),
    placeholderData: keepPreviousData,
    refetchInterval: options.poll ? LIVE_INTERVAL_MS * 3 : false,
  });
}

/** One campaign with its live progress: polled while it is being prepared or open. */
export function useCampaign(id: string) {
  return useQuery({
    queryKey: keys.campaign(id),
    queryFn: ({ signal }) => api.get<CampaignView>(`/campaigns/${enc(id)}`, undefined, { signal }),
    refetchInterval: (query) => (live(query.state.data?.state) ? LIVE_INTERVAL_MS : false),
  });
}

export type ItemFilter = Partial<Pick<ItemQuery, 'view' | 'outcome' | 'accessKind' | 'reviewerId' | 'search'>> & { cursor?: string | null; limit?: number };

export function useItems(campaignId: string, filter: ItemFilter, options: { poll?: boolean } = {}) {
  return useQuery({
    queryKey: keys.items(campaignId, filter),
    queryFn: ({ signal }) =>
      api.get<CampaignItemPage>(
        `/campaigns/${enc(campaignId)}/items`,
        { view: filter.view, outcome: filter.outcome, accessKind: filter.accessKind, reviewerId: filter.reviewerId, search: filter.search, cursor: filter.cursor, limit: filter.limit ?? 50 },
        { signal },
      ),
    placeholderData: keepPreviousData,
    refetchInterval: options.poll ? LIVE_INTERVAL_MS * 2 : false,
  });
}

export type { GroupOption, ReviewerOption };

/** Active portal users for the reviewer pickers (first page of a search). */
export function useReviewerOptions(search: string, enabled = true) {
  return useQuery({
    queryKey: keys.reviewers(search),
    queryFn: ({ signal }) => api.get<{ data: ReviewerOption[] }>('/campaign-reviewers', { search: search || undefined }, { signal }),
    placeholderData: keepPreviousData,
    staleTime: 60_000,
    enabled,
  });
}

export function useGroupOptions(search: string, enabled = true) {
  return useQuery({
    queryKey: keys.groups(search),
    queryFn: ({ signal }) => api.get<{ data: GroupOption[] }>('/campaign-groups', { search: search || undefined }, { signal }),
    placeholderData: keepPreviousData,
    staleTime: 60_000,
    enabled,
  });
}

function useCampaignsMutation<TVars, TResult>(fn: (vars: TVars) => Promise<TResult>) {
  const client = useQueryClient();
  return useMutation({ mutationFn: fn, onSettled: () => client.invalidateQueries({ queryKey: all }) });
}

export const useSaveDefinition = () =>
  useCampaignsMutation(({ id, body }: { id?: string | undefined; body: CampaignDefinitionBody }) =>
    id ? api.put<CampaignDefinitionView>(`/campaign-definitions/${enc(id)}`, body) : api.post<CampaignDefinitionView>('/campaign-definitions', body),
  );

export const useDeleteDefinition = () => useCampaignsMutation(({ id }: { id: string }) => api.del(`/campaign-definitions/${enc(id)}`));

export const usePauseDefinition = () =>
  useCampaignsMutation(({ id, paused }: { id: string; paused: boolean }) => api.post<CampaignDefinitionView>(`/campaign-definitions/${enc(id)}/${paused ? 'pause' : 'resume'}`));

export type LaunchAnswer = { launched: true; campaignId: string } | { launched: false; campaignId: string | null; message: string };

/** Launch now; "a run is still open" (409 campaign_running) is an answer, with that run's id. */
export const useLaunch = () =>
  useCampaignsMutation(async ({ id }: { id: string }): Promise<LaunchAnswer> => {
    try {
      const r = await api.post<z.infer<typeof LaunchedCampaign>>(`/campaign-definitions/${enc(id)}/launch`);
      return { launched: true, campaignId: r.campaignId };
    } catch (err) {
      if (isApiError(err, 'campaign_running')) {
        const body = err.body as { campaignId?: unknown } | undefined;
        return { launched: false, campaignId: typeof body?.campaignId === 'string' ? body.campaignId : null, message: err.message };
      }
      throw err;
    }
  });

export const useDecideItems = (campaignId: string) =>
  useCampaignsMutation((body: DecideItemsBody) => api.post<DecideItemsResult>(`/campaigns/${enc(campaignId)}/decisions`, body));

export const useReassignItems = (campaignId: string) =>
  useCampaignsMutation((body: ReassignBody) => api.post<z.infer<typeof ReassignResult>>(`/campaigns/${enc(campaignId)}/reassign`, body));

export const useCloseCampaign = (campaignId: string) => useCampaignsMutation(() => api.post<z.infer<typeof CloseNowResult>>(`/campaigns/${enc(campaignId)}/close`));

export const useConfirmNoResponse = (campaignId: string) =>
  useCampaignsMutation((body: ConfirmNoResponseBody) => api.post<z.infer<typeof ConfirmNoResponseResult>>(`/campaigns/${enc(campaignId)}/no-response`, body));

/** Evidence downloads: plain links (the session cookie goes along; the API streams the attachment). */
export const evidenceUrl = (campaignId: string, format: 'csv' | 'json'): string => api.url(`/campaigns/${enc(campaignId)}/evidence.${format}`);
