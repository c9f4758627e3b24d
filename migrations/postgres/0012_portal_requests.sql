-- Requests from the technicians' portal (issue 14): where a request came from, who asked for
-- it there and why. A portal request may have no PSA ticket, so `connector_id` and
-- `delivery_key` become nullable (a PSA request still has both: the CHECK says so).
-- Keep in step with migrations/sqlite/0012_portal_requests.sql.
ALTER TABLE jit_requests ALTER COLUMN connector_id DROP NOT NULL;
ALTER TABLE jit_requests ALTER COLUMN delivery_key DROP NOT NULL;
ALTER TABLE jit_requests ADD COLUMN source TEXT NOT NULL DEFAULT 'psa';
ALTER TABLE jit_requests ADD COLUMN requested_by TEXT;
ALTER TABLE jit_requests ADD COLUMN reason TEXT;
ALTER TABLE jit_requests ADD CONSTRAINT jit_requests_source_check
    CHECK (source IN ('psa', 'portal')
           AND (source = 'portal' OR (connector_id IS NOT NULL AND delivery_key IS NOT NULL)));
-- The portal's "my requests" (a technician's pending and latest requests).
CREATE INDEX jit_requests_by_requester ON jit_requests(requested_by, created_at) WHERE requested_by IS NOT NULL;
