-- Enumerated columns admit only their values (the code maps each to an enum in
-- src/domain/lifecycle.rs). SQLite cannot add a CHECK constraint to an existing table without
-- rebuilding it, so triggers refuse other values on insert and update, as a CHECK would.
-- Keep in step with migrations/postgres/0006_enumerated_columns.sql.
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
CREATE TRIGGER grants_end_reason_check_insert BEFORE INSERT ON grants
WHEN NEW.end_reason IS NOT NULL AND NEW.end_reason NOT IN ('expired', 'ended_by_admin', 'cancelled', 'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: grants.end_reason'); END;
CREATE TRIGGER grants_end_reason_check_update BEFORE UPDATE OF end_reason ON grants
WHEN NEW.end_reason IS NOT NULL AND NEW.end_reason NOT IN ('expired', 'ended_by_admin', 'cancelled', 'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: grants.end_reason'); END;
CREATE TRIGGER grants_end_request_reason_check_insert BEFORE INSERT ON grants
WHEN NEW.end_request_reason IS NOT NULL AND NEW.end_request_reason NOT IN ('expired', 'ended_by_admin', 'cancelled', 'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: grants.end_request_reason'); END;
CREATE TRIGGER grants_end_request_reason_check_update BEFORE UPDATE OF end_request_reason ON grants
WHEN NEW.end_request_reason IS NOT NULL AND NEW.end_request_reason NOT IN ('expired', 'ended_by_admin', 'cancelled', 'delegation_removed', 'admin_removed', 'technician_removed', 'access_removed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: grants.end_request_reason'); END;
CREATE TRIGGER entra_connections_expiry_action_check_insert BEFORE INSERT ON entra_connections
WHEN NEW.expiry_action NOT IN ('disable', 'delete')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: entra_connections.expiry_action'); END;
CREATE TRIGGER entra_connections_expiry_action_check_update BEFORE UPDATE OF expiry_action ON entra_connections
WHEN NEW.expiry_action NOT IN ('disable', 'delete')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: entra_connections.expiry_action'); END;
CREATE TRIGGER jit_accounts_state_check_insert BEFORE INSERT ON jit_accounts
WHEN NEW.state NOT IN ('new', 'active', 'disabled', 'deleted')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_accounts.state'); END;
CREATE TRIGGER jit_accounts_state_check_update BEFORE UPDATE OF state ON jit_accounts
WHEN NEW.state NOT IN ('new', 'active', 'disabled', 'deleted')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jit_accounts.state'); END;
CREATE TRIGGER ticket_notes_kind_check_insert BEFORE INSERT ON ticket_notes
WHEN NEW.kind NOT IN ('credentials', 'ended', 'refused', 'failed', 'end_failing')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ticket_notes.kind'); END;
CREATE TRIGGER ticket_notes_kind_check_update BEFORE UPDATE OF kind ON ticket_notes
WHEN NEW.kind NOT IN ('credentials', 'ended', 'refused', 'failed', 'end_failing')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ticket_notes.kind'); END;
