/** Links inside the access-review pages (absolute: they are used from splat routes). */
export const campaignPath = (id: string, tab?: 'mine' | 'progress' | 'items'): string => `/access-reviews/campaigns/${id}${tab ? `?tab=${tab}` : ''}`;
export const definitionPath = (id: string): string => `/access-reviews/definitions/${id}`;
export const homePath = (tab?: 'mine' | 'campaigns' | 'definitions'): string => `/access-reviews${tab ? `?tab=${tab}` : ''}`;
