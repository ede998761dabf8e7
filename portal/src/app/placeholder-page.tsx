import type { ComponentType } from 'react';
import { EmptyState, Page } from '../components/index.js';

/** A page that another piece of work fills in; keeps the nav complete meanwhile. */
export function placeholder(title: string, description: string): () => Promise<{ default: ComponentType }> {
  return async () => ({
    default: function PlaceholderPage() {
      return (
        <Page title={title} description={description}>
          <EmptyState title="Coming soon">This page is being built.</EmptyState>
        </Page>
      );
    },
  });
}
