-- A grant lives in one tenant for its whole life (DESIGN invariant I9): accounts and grants
-- record the tenant and the app (client id) they were made in, and ending talks to that
-- tenant only, never to whatever the customer's connection points at later.
ALTER TABLE jit_accounts ADD COLUMN tenant_id TEXT;
ALTER TABLE jit_accounts ADD COLUMN client_id TEXT;
ALTER TABLE grants ADD COLUMN tenant_id TEXT;
ALTER TABLE grants ADD COLUMN client_id TEXT;

-- Accounts and grants made before this migration were made in the tenant the customer's
-- connection names now (changing it was not refused then, but nothing better is known).
UPDATE jit_accounts SET
    tenant_id = (SELECT e.tenant_id FROM entra_connections e WHERE e.customer_id = jit_accounts.customer_id),
    client_id = (SELECT e.client_id FROM entra_connections e WHERE e.customer_id = jit_accounts.customer_id)
WHERE entra_user_id IS NOT NULL;
UPDATE grants SET
    tenant_id = (SELECT a.tenant_id FROM jit_accounts a WHERE a.id = grants.account_id),
    client_id = (SELECT a.client_id FROM jit_accounts a WHERE a.id = grants.account_id);

-- The end of access, step by step: the last attempt's result of each step (JSON array of
-- {"step", "ok", "detail"}), and the follow-up steps (comma-separated names) that still fail
-- after the account read back disabled with no roles, retried until they succeed.
ALTER TABLE grants ADD COLUMN end_steps TEXT;
ALTER TABLE grants ADD COLUMN end_follow_ups TEXT;
-- Whether the ticket was told that a follow-up step keeps failing (it is told once).
ALTER TABLE grants ADD COLUMN follow_up_noted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX grants_with_follow_ups ON grants(updated_at) WHERE end_follow_ups IS NOT NULL;

-- UPN lookups when choosing a distinct UPN per technician in a customer.
CREATE INDEX jit_accounts_by_upn ON jit_accounts(customer_id, upn);
