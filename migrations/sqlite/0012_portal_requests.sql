-- Requests from the technicians' portal (issue 14): where a request came from, who asked for
-- it there and why. A portal request may have no PSA ticket, so `connector_id` and
-- `delivery_key` become nullable.
-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt the documented way (create
-- the new table, copy, drop the old, rename; https://www.sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), which drops the old table's index
-- (0001: jit_requests_pending) and CHECK triggers (0006: kind, status): all recreated below.
-- No other table references jit_requests, so no foreign key is affected.
-- Keep in step with migrations/postgres/0012_portal_requests.sql.
CREATE TABLE jit_requests_rebuilt (
    id              TEXT PRIMARY KEY,
    connector_id    TEXT,                   -- NULL: a portal request without a ticket
    delivery_key    TEXT,                   -- NULL: a portal request
    kind            TEXT NOT NULL,          -- request | cancel
    ticket_ref      TEXT,
    psa_company_id  TEXT,
    actor           TEXT,                   -- JSON of the normalized actor
    duration_secs   BIGINT,
    status          TEXT NOT NULL,          -- pending | provisioned | refused | failed | done
    status_detail   TEXT,
    customer_id     TEXT,
    technician_id   TEXT,
    grant_id        TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    source          TEXT NOT NULL DEFAULT 'psa',   -- psa | portal
    requested_by    TEXT,                   -- the signed-in technician (portal)
    reason          TEXT                    -- the technician's own words (portal)
);
INSERT INTO jit_requests_rebuilt (id, connector_id, delivery_key, kind, ticket_ref, psa_company_id, actor,
        duration_secs, status, status_detail, customer_id, technician_id, grant_id, created_at, updated_at)
    SELECT id, connector_id, delivery_key, kind, ticket_ref, psa_company_id, actor,
        duration_secs, status, status_detail, customer_id, technician_id, grant_id, created_at, updated_at
    FROM jit_requests;
DROP TABLE jit_requests;
ALTER TABLE jit_requests_rebuilt RENAME TO jit_requests;

-- 0001
CREATE INDEX jit_requests_pending ON jit_requests(updated_at) WHERE status = 'pending';
-- The portal's "my requests" (a technician's pending and latest requests).
CREATE INDEX jit_requests_by_requester ON jit_requests(requested_by, created_at) WHERE requested_by IS NOT NULL;

-- 0006, as it was
CREATE TRIGGER jit_requests_kind_check_insert BEFORE INSERT ON jit_requests
WHEN NEW.kind NOT IN ('request', 'cancel')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.kind'); END;
CREATE TRIGGER jit_requests_kind_check_update BEFORE UPDATE OF kind ON jit_requests
WHEN NEW.kind NOT IN ('request', 'cancel')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.kind'); END;
CREATE TRIGGER jit_requests_status_check_insert BEFORE INSERT ON jit_requests
WHEN NEW.status NOT IN ('pending', 'provisioned', 'refused', 'failed', 'done')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.status'); END;
CREATE TRIGGER jit_requests_status_check_update BEFORE UPDATE OF status ON jit_requests
WHEN NEW.status NOT IN ('pending', 'provisioned', 'refused', 'failed', 'done')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.status'); END;

-- New: the source, and a PSA request keeps its connector and delivery key.
CREATE TRIGGER jit_requests_source_check_insert BEFORE INSERT ON jit_requests
WHEN NEW.source NOT IN ('psa', 'portal')
  OR (NEW.source = 'psa' AND (NEW.connector_id IS NULL OR NEW.delivery_key IS NULL))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.source'); END;
CREATE TRIGGER jit_requests_source_check_update BEFORE UPDATE OF source, connector_id, delivery_key ON jit_requests
WHEN NEW.source NOT IN ('psa', 'portal')
  OR (NEW.source = 'psa' AND (NEW.connector_id IS NULL OR NEW.delivery_key IS NULL))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_requests.source'); END;
