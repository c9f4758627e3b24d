-- The MSP's own multi-tenant Entra app, configured once (issue 12): its client id here, its
-- client secret sealed in `secrets` (scope msp_app). Customers connected by admin consent name
-- this client id in their entra_connections row and need no secret of their own.
CREATE TABLE msp_app (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    client_id   TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Outstanding admin-consent requests: the hash of the random `state` sent to Microsoft, the
-- customer and the admin token it was asked for; single-use (deleted when the browser returns).
CREATE TABLE consent_states (
    state_hash    TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
