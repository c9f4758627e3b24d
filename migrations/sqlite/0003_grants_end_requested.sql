-- The sweeper finds grants asked to end early through this index, and those past expiry
-- through grants_open_by_expiry: neither search reads every open grant.
-- Keep in step with migrations/postgres/0003_grants_end_requested.sql.
CREATE INDEX grants_open_end_requested ON grants(expires_at) WHERE ended_at IS NULL AND end_requested;
