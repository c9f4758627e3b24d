-- Technician groups and, per customer, which directory roles each group's members get in its
-- tenant (issue 12). The built-in group "All admins" contains every technician implicitly: it
-- has no member rows, and a customer without any mapping behaves as "All admins → the roles
-- its Entra connection names".
CREATE TABLE technician_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO technician_groups (id, name, created_at, updated_at) VALUES ('grp_all_admins', 'All admins', 0, 0);

CREATE TABLE technician_group_members (
    group_id       TEXT NOT NULL REFERENCES technician_groups(id) ON DELETE CASCADE,
    technician_id  TEXT NOT NULL REFERENCES technicians(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (group_id, technician_id)
);
CREATE INDEX technician_group_members_by_technician ON technician_group_members(technician_id);

-- No cascade from the group: a group still used by a mapping cannot be deleted (its
-- mappings silently gone could turn a customer back to the default).
CREATE TABLE role_mappings (
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    group_id     TEXT NOT NULL REFERENCES technician_groups(id),
    roles        TEXT NOT NULL,             -- JSON array of role template ids
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (customer_id, group_id)
);
CREATE INDEX role_mappings_by_group ON role_mappings(group_id);

-- The roles a grant's account was given, and why: `roles` a JSON array of template ids,
-- `role_sources` JSON `[{"group_id", "group", "roles"}]`. NULL on grants from before.
ALTER TABLE grants ADD COLUMN roles TEXT;
ALTER TABLE grants ADD COLUMN role_sources TEXT;
