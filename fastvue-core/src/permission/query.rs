//! The SQL of the permission engine: effective permissions in one statement, and grant paths.
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;

use crate::error::Result;

/// Effective permissions of `$1` (user) in `$2` (company), in ONE statement: nothing for
/// an inactive or deleted user or company; every active permission for a superuser; else
/// the active permissions of the user's active assignments of active roles (of that
/// company or global) and of the active groups of that company the user actively belongs to.
const EFFECTIVE_PERMISSIONS: &str = "\
SELECT p.id, p.codename FROM permissions p \
WHERE p.is_active = TRUE AND EXISTS ( \
  SELECT 1 FROM users u, companies c \
  WHERE u.id = $1 AND c.id = $2 \
    AND u.is_active = TRUE AND u.deleted_at IS NULL \
    AND c.is_active = TRUE AND c.deleted_at IS NULL \
    AND (u.is_superuser = TRUE \
      OR p.id IN ( \
        SELECT rp.permission_id FROM user_company_roles ucr \
        JOIN roles r ON r.id = ucr.role_id \
        JOIN role_permissions rp ON rp.role_id = r.id \
        WHERE ucr.user_id = $1 AND ucr.company_id = $2 AND ucr.is_active = TRUE \
          AND r.is_active = TRUE AND (r.company_id IS NULL OR r.company_id = $2)) \
      OR p.id IN ( \
        SELECT gp.permission_id FROM user_groups ug \
        JOIN groups g ON g.id = ug.group_id \
        JOIN group_permissions gp ON gp.group_id = g.id \
        WHERE ug.user_id = $1 AND g.company_id = $2 \
          AND ug.is_active = TRUE AND g.is_active = TRUE))) \
ORDER BY p.id";

/// Role and group grants of one permission to `$1` in `$2` (for `explain`).
const GRANT_PATHS: &str = "\
SELECT 'role' AS kind, r.id AS id, r.name AS name FROM user_company_roles ucr \
JOIN roles r ON r.id = ucr.role_id \
JOIN role_permissions rp ON rp.role_id = r.id \
JOIN permissions p ON p.id = rp.permission_id \
WHERE ucr.user_id = $1 AND ucr.company_id = $2 AND p.codename = $3 \
  AND ucr.is_active = TRUE AND r.is_active = TRUE AND (r.company_id IS NULL OR r.company_id = $2) \
UNION ALL \
SELECT 'group' AS kind, g.id AS id, g.name AS name FROM user_groups ug \
JOIN groups g ON g.id = ug.group_id \
JOIN group_permissions gp ON gp.group_id = g.id \
JOIN permissions p ON p.id = gp.permission_id \
WHERE ug.user_id = $1 AND g.company_id = $2 AND p.codename = $3 \
  AND ug.is_active = TRUE AND g.is_active = TRUE \
ORDER BY kind, id";

/// Builds a statement; SQLite takes the same numbered parameters spelled `?N`.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    match backend {
        DbBackend::Sqlite => Statement::from_sql_and_values(backend, sql.replace('$', "?"), values),
        _ => Statement::from_sql_and_values(backend, sql, values),
    }
}

/// One granted permission: database id and codename.
pub(crate) type Grant = (i64, String);

/// Runs the one-statement effective-permission query.
pub(crate) async fn effective_permissions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
) -> Result<Vec<Grant>> {
    let stmt = statement(
        db.get_database_backend(),
        EFFECTIVE_PERMISSIONS,
        vec![user_id.into(), company_id.into()],
    );
    let rows = db.query_all_raw(stmt).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.try_get::<i64>("", "id")?,
            row.try_get::<String>("", "codename")?,
        ));
    }
    Ok(out)
}

/// One way a user holds a permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GrantPath {
    /// The user is a superuser.
    Superuser,
    /// Through a role assignment.
    Role {
        /// Role id.
        id: i64,
        /// Role name.
        name: String,
    },
    /// Through a group membership.
    Group {
        /// Group id.
        id: i64,
        /// Group name.
        name: String,
    },
}

/// Role and group grant paths of `codename` (the caller adds the superuser path and the
/// activity checks).
pub(crate) async fn grant_paths<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
    codename: &str,
) -> Result<Vec<GrantPath>> {
    let stmt = statement(
        db.get_database_backend(),
        GRANT_PATHS,
        vec![user_id.into(), company_id.into(), codename.into()],
    );
    let mut out = Vec::new();
    for row in db.query_all_raw(stmt).await? {
        let kind: String = row.try_get("", "kind")?;
        let id: i64 = row.try_get("", "id")?;
        let name: String = row.try_get("", "name")?;
        out.push(if kind == "role" {
            GrantPath::Role { id, name }
        } else {
            GrantPath::Group { id, name }
        });
    }
    Ok(out)
}
