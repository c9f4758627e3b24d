-- Enumerated columns admit only their values (the code maps each to an enum in
-- src/domain/lifecycle.rs). Keep in step with migrations/sqlite/0006_enumerated_columns.sql.
ALTER TABLE jit_requests ADD CONSTRAINT jit_requests_kind_check
    CHECK (kind IN ('request', 'cancel'));
ALTER TABLE jit_requests ADD CONSTRAINT jit_requests_status_check
    CHECK (status IN ('pending', 'provisioned', 'refused', 'failed', 'done'));
ALTER TABLE grants ADD CONSTRAINT grants_end_reason_check
    CHECK (end_reason IS NULL OR end_reason IN ('expired', 'ended_by_admin', 'cancelled',
        'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed'));
ALTER TABLE grants ADD CONSTRAINT grants_end_request_reason_check
    CHECK (end_request_reason IS NULL OR end_request_reason IN ('expired', 'ended_by_admin', 'cancelled',
        'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed'));
ALTER TABLE entra_connections ADD CONSTRAINT entra_connections_expiry_action_check
    CHECK (expiry_action IN ('disable', 'delete'));
ALTER TABLE jit_accounts ADD CONSTRAINT jit_accounts_state_check
    CHECK (state IN ('new', 'active', 'disabled', 'deleted'));
ALTER TABLE ticket_notes ADD CONSTRAINT ticket_notes_kind_check
    CHECK (kind IN ('credentials', 'ended', 'refused', 'failed', 'end_failing'));
