-- jitgate schema (SQLite). Times are Unix milliseconds (UTC); ids are prefixed ULIDs.
-- Keep in step with migrations/postgres/0001_schema.sql: the queries are shared.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The customer's Entra tenant; the client secret is in `secrets` (scope customer:<id>).
CREATE TABLE entra_connections (
    customer_id    TEXT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    jit_domain     TEXT NOT NULL,
    upn_template   TEXT NOT NULL,
    roles          TEXT NOT NULL,           -- JSON array of role template ids
    duration_secs  BIGINT,                  -- NULL: the configured default
    expiry_action  TEXT NOT NULL,           -- disable | delete
    updated_at     BIGINT NOT NULL
);

CREATE TABLE technicians (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,     -- lower-cased
    display_name  TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE delegations (
    technician_id  TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    customer_id    TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (technician_id, customer_id)
);
CREATE INDEX delegations_by_customer ON delegations(customer_id);

-- PSA connectors; secrets are in `secrets` (scope connector:<id>).
CREATE TABLE connectors (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,              -- JSON, validated by the connector kind
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE company_mappings (
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    psa_company_id  TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (connector_id, psa_company_id)
);
CREATE INDEX company_mappings_by_customer ON company_mappings(customer_id);

-- Every accepted delivery key: a redelivery finds its row and changes nothing.
CREATE TABLE deliveries (
    connector_id  TEXT NOT NULL,
    delivery_key  TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    request_id    TEXT,
    PRIMARY KEY (connector_id, delivery_key)
);

-- A ticket whose trigger was consumed; later deliveries with the trigger still set are not
-- new requests until a delivery shows it cleared.
CREATE TABLE trigger_latches (
    connector_id  TEXT NOT NULL,
    ticket_ref    TEXT NOT NULL,
    latched_at    BIGINT NOT NULL,
    PRIMARY KEY (connector_id, ticket_ref)
);

CREATE TABLE jit_requests (
    id              TEXT PRIMARY KEY,
    connector_id    TEXT NOT NULL,
    delivery_key    TEXT NOT NULL,
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
    updated_at      BIGINT NOT NULL
);
CREATE INDEX jit_requests_pending ON jit_requests(updated_at) WHERE status = 'pending';

-- One JIT account per (customer, technician); password and TOTP key in `secrets`
-- (scope account:<id>).
CREATE TABLE jit_accounts (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    technician_id   TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    upn             TEXT NOT NULL,
    entra_user_id   TEXT,
    state           TEXT NOT NULL,          -- new | active | disabled | deleted
    totp_set        BOOLEAN NOT NULL DEFAULT FALSE,
    -- Graph work on one account is serialized across jobs and processes by this lease.
    lock_owner      TEXT,
    lock_until      BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (customer_id, technician_id)
);

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES jit_accounts(id) ON DELETE CASCADE,
    customer_id     TEXT NOT NULL,
    technician_id   TEXT NOT NULL,
    request_id      TEXT,
    connector_id    TEXT,
    ticket_ref      TEXT,
    started_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    end_reason      TEXT,                   -- expired | ended_by_admin | cancelled
    end_requested   BOOLEAN NOT NULL DEFAULT FALSE,
    end_request_reason TEXT,                -- ended_by_admin | cancelled
    end_attempts    INTEGER NOT NULL DEFAULT 0,
    last_end_error  TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    version         INTEGER NOT NULL DEFAULT 1,   -- bumped when extended
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX grants_one_open_per_account ON grants(account_id) WHERE ended_at IS NULL;
CREATE INDEX grants_open_by_expiry ON grants(expires_at) WHERE ended_at IS NULL;
CREATE INDEX grants_by_customer ON grants(customer_id, created_at);

CREATE TABLE credential_links (
    id             TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL UNIQUE,
    reveal_limit   INTEGER NOT NULL,
    reveals_used   INTEGER NOT NULL DEFAULT 0,
    superseded_at  BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX credential_links_by_grant ON credential_links(grant_id);

-- Notes waiting for / posted to tickets (the note job's outbox). A credential link's raw token
-- is sealed in `secrets` (scope note:<id>) until the note is posted, then deleted.
CREATE TABLE ticket_notes (
    id            TEXT PRIMARY KEY,
    connector_id  TEXT NOT NULL,
    ticket_ref    TEXT NOT NULL,
    kind          TEXT NOT NULL,            -- credentials | ended | refused | failed | end_failing
    grant_id      TEXT,
    request_id    TEXT,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    posted_at     BIGINT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    touched_at    BIGINT NOT NULL            -- last time a job worked on it (lost-job rescue)
);
CREATE INDEX ticket_notes_unposted ON ticket_notes(touched_at) WHERE posted_at IS NULL;

CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,        -- ULID: sorts by time
    at             BIGINT NOT NULL,
    actor          TEXT NOT NULL,           -- token:<id> | technician:<id> | system | psa:<connector>
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL,           -- ok | refused | failed
    customer_id    TEXT,
    technician_id  TEXT,
    grant_id       TEXT,
    connector_id   TEXT,
    ticket_ref     TEXT,
    tenant_id      TEXT,
    account_upn    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    detail         TEXT
);
CREATE INDEX audit_log_by_customer ON audit_log(customer_id, id);

CREATE TABLE admin_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    is_admin      BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE admin_token_customers (
    token_id     TEXT NOT NULL REFERENCES admin_tokens(id) ON DELETE CASCADE,
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, customer_id)
);

-- Every secret, sealed (AES-256-GCM) under the master key `key_id`; AAD = scope/name.
CREATE TABLE secrets (
    scope       TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX secrets_by_key ON secrets(key_id);
