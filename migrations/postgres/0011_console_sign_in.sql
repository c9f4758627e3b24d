-- Sign-in for the console and the portal (issue 13): people are technicians; sessions live in
-- the database so every instance sees a sign-out at once.

-- Customer admins (idemeum's "delegate admin"): a technician who administers these customers
-- only, in the console.
CREATE TABLE customer_admins (
    technician_id  TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    customer_id    TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (technician_id, customer_id)
);
CREATE INDEX customer_admins_by_customer ON customer_admins(customer_id);

-- The customers a scoped principal may see: a delegated admin token or a customer admin
-- (token and technician ids have different prefixes, so they never collide).
CREATE VIEW scoped_customers AS
    SELECT token_id AS principal_id, customer_id FROM admin_token_customers
    UNION ALL
    SELECT technician_id AS principal_id, customer_id FROM customer_admins;

-- The identity provider's subject a technician is bound to on first sign-in.
ALTER TABLE technicians ADD COLUMN sign_in_issuer TEXT;
ALTER TABLE technicians ADD COLUMN sign_in_subject TEXT;
CREATE UNIQUE INDEX technicians_by_sign_in ON technicians(sign_in_issuer, sign_in_subject);

-- One-time sign-in links (`jitgate admin login-link`): the hash of the token only.
CREATE TABLE sign_in_links (
    token_hash     TEXT PRIMARY KEY,
    technician_id  TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    created_by     TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Browser sessions: the cookie holds a random token, the row its hash.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    technician_id  TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    method         TEXT NOT NULL CHECK (method IN ('link', 'oidc')),
    ip             TEXT,
    user_agent     TEXT,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    end_reason     TEXT
);
CREATE INDEX sessions_by_technician ON sessions(technician_id);

-- Outstanding OpenID Connect sign-ins: the state's hash, the nonce and where to go after, until
-- the browser comes back; single-use. The PKCE verifier is sealed in `secrets`
-- (scope sign_in:<state hash>) and deleted with the row.
CREATE TABLE sign_in_states (
    state_hash     TEXT PRIMARY KEY,
    nonce          TEXT NOT NULL,
    return_to      TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Which sign-in session an audited step was taken in.
ALTER TABLE audit_log ADD COLUMN session_id TEXT;
CREATE INDEX audit_log_by_technician ON audit_log(technician_id, id);
