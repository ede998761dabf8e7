-- Up Migration

-- The security view pages through every item of a campaign riskiest first (keyset on risk DESC,
-- id; GET /campaigns/:id/items?view=all). campaign_items_reviewer serves one reviewer's worklist;
-- without this index a page of a 100,000-item campaign sorts the whole campaign.
CREATE INDEX campaign_items_risk ON campaign_items (tenant_id, campaign_id, risk DESC, id);

-- Down Migration
DROP INDEX IF EXISTS campaign_items_risk;
