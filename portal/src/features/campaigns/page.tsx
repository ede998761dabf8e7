import { Route, Routes } from 'react-router';
import { CampaignPage } from './campaign-page.js';
import { DefinitionPage } from './definition-page.js';
import { AccessReviewsHome } from './home.js';
import './campaigns.css';

/**
 * /access-reviews: my reviews, campaigns and definitions (the index), one campaign (worklist,
 * progress, all items, evidence), one definition (new or existing).
 */
export default function AccessReviewsFeature() {
  return (
    <Routes>
      <Route index element={<AccessReviewsHome />} />
      <Route path="campaigns/:id" element={<CampaignPage />} />
      <Route path="definitions/new" element={<DefinitionPage />} />
      <Route path="definitions/:id" element={<DefinitionPage />} />
    </Routes>
  );
}
