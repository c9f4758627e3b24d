-- The delivery log (issue 15): the last deliveries of each connector with their outcome, so an
-- MSP can see what its PSA sends and why jitgate answered as it did. Written in batches by a
-- background writer (never on the webhook's own transaction); trimmed by the sweeper to
-- `delivery_log_retention` and `delivery_log_max_per_connector`. No foreign key to connectors:
-- a batch must not fail because a connector was deleted meanwhile (the sweeper drops orphans).
CREATE TABLE delivery_log (
    id              TEXT PRIMARY KEY,       -- ULID: sorts by time
    connector_id    TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN
                        ('accepted', 'ignored', 'duplicate', 'unauthorized', 'invalid', 'retry')),
    reason          TEXT,
    ticket_ref      TEXT,
    request_id      TEXT,
    event_id        TEXT,                   -- the PSA's own id of the delivery
    signature_form  TEXT,                   -- which accepted form matched (Autotask: raw | escaped)
    body            TEXT,                   -- only while capture is on: redacted, capped at 16 KiB
    body_expires_at BIGINT
);
CREATE INDEX delivery_log_by_connector ON delivery_log(connector_id, id);
CREATE INDEX delivery_log_bodies ON delivery_log(body_expires_at) WHERE body_expires_at IS NOT NULL;

-- An admin turned on body capture for this connector's deliveries.
ALTER TABLE connectors ADD COLUMN capture_deliveries BOOLEAN NOT NULL DEFAULT FALSE;

-- A request accepted before its trigger could be decided (a ConnectWise summarized payload
-- lacks the custom fields): the provision job reads the ticket first and decides.
ALTER TABLE jit_requests ADD COLUMN undecided BOOLEAN NOT NULL DEFAULT FALSE;
