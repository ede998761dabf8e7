import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api.js';

/**
 * One query cache per realm (portal, console). Server state lives here, never in a global store.
 * Client errors (4xx) are not retried: asking again gives the same answer.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        refetchOnWindowFocus: false,
        retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
      },
      mutations: { retry: false },
    },
  });
}
