-- The last tenant check of each customer's Entra connection: when it ran, its overall status
-- (ok | warn | fail) and each check as JSON [{"name", "status", "detail", "fix"}]. A request for
-- a customer whose last check failed is refused at once, naming the failed check.
CREATE TABLE tenant_checks (
    customer_id  TEXT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    checked_at   BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'warn', 'fail')),
    checks       TEXT NOT NULL
);
