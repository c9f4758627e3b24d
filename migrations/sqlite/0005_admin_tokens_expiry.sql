-- Admin tokens may expire: NULL never does. A token is checked against this row on every
-- request, so an expiry or a revocation holds at once on every instance.
-- Keep in step with migrations/postgres/0005_admin_tokens_expiry.sql.
ALTER TABLE admin_tokens ADD COLUMN expires_at BIGINT;

-- A removed technician keeps their row: their JIT accounts and grants reference it with
-- ON DELETE CASCADE, and ending those grants (and the history) needs them. removed_at hides
-- the technician from lists, email lookups and requests; adding a technician with the same
-- email restores the row, with no admin flag and no delegations.
ALTER TABLE technicians ADD COLUMN removed_at BIGINT;
