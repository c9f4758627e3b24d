//! Technician groups and per-customer role mappings: which directory roles a technician's JIT
//! account gets in a customer's tenant (issue 12).
//!
//! The built-in group [`ALL_ADMINS`] contains every technician without member rows. A customer
//! without any mapping behaves as "All admins → the roles its Entra connection names", so an
//! install from before groups keeps granting what it granted.

use super::{Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};
use serde::Serialize;

/// The id of the built-in group every technician belongs to (created by migration 0007).
pub const ALL_ADMINS: &str = "grp_all_admins";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Group {
    pub fn is_builtin(&self) -> bool {
        self.id == ALL_ADMINS
    }
}

/// One group's roles in one customer's tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleSource {
    pub group_id: String,
    /// The group's name when the mapping was read.
    pub group: String,
    /// Role template ids.
    pub roles: Vec<String>,
}

/// The mappings in force for a customer.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub sources: Vec<RoleSource>,
    /// No mapping is stored: the default (All admins → the connection's roles) applies.
    pub is_default: bool,
}

pub async fn create(tx: &mut Tx, name: &str) -> Result<Group> {
    let now = now_ms();
    let group = Group {
        id: new_id("grp"),
        name: name.to_string(),
        created_at: now,
        updated_at: now,
    };
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO technician_groups (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
        .bind(&group.id).bind(&group.name).bind(now).execute(&mut *conn).await?.rows_affected());
    Ok(group)
}

pub async fn list(db: &Db) -> Result<Vec<Group>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM technician_groups ORDER BY (id <> 'grp_all_admins'), name")
        .fetch_all(pool).await?))
}

pub async fn get(db: &Db, id: &str) -> Result<Group> {
    let row: Option<Group> = on_db!(db, pool => sqlx::query_as("SELECT * FROM technician_groups WHERE id = $1")
        .bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn rename(tx: &mut Tx, id: &str, name: &str) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query("UPDATE technician_groups SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name).bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Delete a group and its member rows. A group some customer's mapping still names is a
/// `Conflict` (the foreign key refuses it).
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query("DELETE FROM technician_groups WHERE id = $1")
        .bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Customers whose mappings name the group.
pub async fn mapped_customers(db: &Db, group_id: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT customer_id FROM role_mappings WHERE group_id = $1 ORDER BY customer_id")
        .bind(group_id).fetch_all(pool).await?))
}

/// Explicit members (technician ids) of a group, active technicians only.
pub async fn members(db: &Db, group_id: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT m.technician_id FROM technician_group_members m JOIN technicians t ON t.id = m.technician_id
         WHERE m.group_id = $1 AND t.removed_at IS NULL ORDER BY t.email")
        .bind(group_id).fetch_all(pool).await?))
}

pub async fn add_member(tx: &mut Tx, group_id: &str, technician_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO technician_group_members (group_id, technician_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING")
        .bind(group_id).bind(technician_id).bind(now_ms()).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn remove_member(tx: &mut Tx, group_id: &str, technician_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "DELETE FROM technician_group_members WHERE group_id = $1 AND technician_id = $2")
        .bind(group_id).bind(technician_id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// The customer's mappings, or the default when none is stored: All admins → `default_roles`
/// (the roles its Entra connection names).
pub async fn mappings(db: &Db, customer_id: &str, default_roles: &[String]) -> Result<Mappings> {
    let rows: Vec<(String, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT m.group_id, g.name, m.roles FROM role_mappings m JOIN technician_groups g ON g.id = m.group_id
         WHERE m.customer_id = $1 ORDER BY (m.group_id <> 'grp_all_admins'), g.name")
        .bind(customer_id).fetch_all(pool).await?);
    if rows.is_empty() {
        let all = get(db, ALL_ADMINS).await?;
        return Ok(Mappings {
            sources: vec![RoleSource {
                group_id: all.id,
                group: all.name,
                roles: default_roles.to_vec(),
            }],
            is_default: true,
        });
    }
    let sources = rows
        .into_iter()
        .map(|(group_id, group, roles)| RoleSource {
            group_id,
            group,
            roles: serde_json::from_str(&roles).unwrap_or_default(),
        })
        .collect();
    Ok(Mappings {
        sources,
        is_default: false,
    })
}

/// Replace the customer's mappings (`(group id, role template ids)`); an empty list returns
/// the customer to the default. An unknown group is a `Conflict` (the foreign key).
pub async fn put_mappings(
    tx: &mut Tx,
    customer_id: &str,
    mappings: &[(String, Vec<String>)],
) -> Result<()> {
    let now = now_ms();
    on_tx!(tx, conn => sqlx::query("DELETE FROM role_mappings WHERE customer_id = $1")
        .bind(customer_id).execute(&mut *conn).await?.rows_affected());
    for (group_id, roles) in mappings {
        let roles = serde_json::to_string(roles).expect("strings serialize");
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO role_mappings (customer_id, group_id, roles, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(customer_id).bind(group_id).bind(&roles).bind(now)
            .execute(&mut *conn).await?.rows_affected());
    }
    Ok(())
}

/// The ids of the groups the technician is in: All admins and their explicit groups.
pub async fn groups_of(db: &Db, technician_id: &str) -> Result<Vec<String>> {
    let mut ids: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT group_id FROM technician_group_members WHERE technician_id = $1")
        .bind(technician_id).fetch_all(pool).await?);
    ids.push(ALL_ADMINS.to_string());
    Ok(ids)
}

/// The roles a technician's JIT account gets in the customer's tenant: the union of the roles
/// of the technician's groups that the mappings name, with the mappings that gave them.
pub fn roles_for(mappings: &Mappings, groups: &[String]) -> (Vec<String>, Vec<RoleSource>) {
    let sources: Vec<RoleSource> = mappings
        .sources
        .iter()
        .filter(|s| groups.contains(&s.group_id) && !s.roles.is_empty())
        .cloned()
        .collect();
    let mut roles: Vec<String> = Vec::new();
    for role in sources.iter().flat_map(|s| &s.roles) {
        if !roles.contains(role) {
            roles.push(role.clone());
        }
    }
    (roles, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(group_id: &str, roles: &[&str]) -> RoleSource {
        RoleSource {
            group_id: group_id.into(),
            group: group_id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn the_roles_are_the_union_over_the_technicians_mapped_groups() {
        let mappings = Mappings {
            sources: vec![
                source("a", &["r1", "r2"]),
                source("b", &["r2", "r3"]),
                source("c", &["r4"]),
            ],
            is_default: false,
        };
        let (roles, sources) = roles_for(&mappings, &["a".into(), "b".into(), ALL_ADMINS.into()]);
        assert_eq!(roles, vec!["r1", "r2", "r3"]);
        assert_eq!(
            sources
                .iter()
                .map(|s| s.group_id.as_str())
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        let (roles, sources) = roles_for(&mappings, &[ALL_ADMINS.into()]);
        assert!(roles.is_empty() && sources.is_empty());
    }
}
