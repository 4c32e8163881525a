//! The SQL of the permission engine: effective permissions in one statement, and grant paths.
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;

use crate::error::Result;

/// Effective permissions of the users `{users}` (a list of numbered parameters from `$2`)
/// in `$1` (company), in ONE statement: nothing for an inactive or deleted user or
/// company; every active permission for a superuser; else the active permissions of the
/// user's active assignments of active roles (of that company or global) and of the
/// active groups of that company the user actively belongs to. Rows: `user_id`, `id`,
/// `codename`, ordered by user then permission.
const EFFECTIVE_PERMISSIONS: &str = "\
SELECT grants.user_id AS user_id, grants.id AS id, grants.codename AS codename FROM ( \
  SELECT ucr.user_id AS user_id, p.id AS id, p.codename AS codename \
  FROM user_company_roles ucr \
  JOIN roles r ON r.id = ucr.role_id \
  JOIN role_permissions rp ON rp.role_id = r.id \
  JOIN permissions p ON p.id = rp.permission_id \
  WHERE ucr.company_id = $1 AND ucr.user_id IN ({users}) AND ucr.is_active = TRUE \
    AND r.is_active = TRUE AND (r.company_id IS NULL OR r.company_id = $1) \
    AND p.is_active = TRUE \
  UNION \
  SELECT ug.user_id, p.id, p.codename FROM user_groups ug \
  JOIN groups g ON g.id = ug.group_id \
  JOIN group_permissions gp ON gp.group_id = g.id \
  JOIN permissions p ON p.id = gp.permission_id \
  WHERE g.company_id = $1 AND ug.user_id IN ({users}) \
    AND ug.is_active = TRUE AND g.is_active = TRUE AND p.is_active = TRUE \
  UNION \
  SELECT su.id, p.id, p.codename FROM users su, permissions p \
  WHERE su.id IN ({users}) AND su.is_superuser = TRUE AND p.is_active = TRUE \
) grants \
JOIN users u ON u.id = grants.user_id \
JOIN companies c ON c.id = $1 \
WHERE u.is_active = TRUE AND u.deleted_at IS NULL \
  AND c.is_active = TRUE AND c.deleted_at IS NULL \
ORDER BY grants.user_id, grants.id";

/// Users per effective-permission statement: three times this many parameters stay far
/// below SQLite's and PostgreSQL's limits.
pub(crate) const USERS_PER_STATEMENT: usize = 500;

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

/// Runs the one-statement effective-permission query for one (user, company).
pub(crate) async fn effective_permissions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
) -> Result<Vec<Grant>> {
    Ok(effective_permissions_of(db, company_id, &[user_id])
        .await?
        .into_iter()
        .map(|(_, id, codename)| (id, codename))
        .collect())
}

/// Runs the effective-permission query for up to [`USERS_PER_STATEMENT`] users of one
/// company, as one statement. Rows are (user id, permission id, codename), ordered by
/// user then permission; a user holding nothing has no row.
pub(crate) async fn effective_permissions_of<C: ConnectionTrait>(
    db: &C,
    company_id: i64,
    user_ids: &[i64],
) -> Result<Vec<(i64, i64, String)>> {
    debug_assert!(!user_ids.is_empty() && user_ids.len() <= USERS_PER_STATEMENT);
    let placeholders = (2..user_ids.len() + 2)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = EFFECTIVE_PERMISSIONS.replace("{users}", &placeholders);
    let mut values: Vec<Value> = Vec::with_capacity(user_ids.len() + 1);
    values.push(company_id.into());
    values.extend(user_ids.iter().map(|&id| Value::from(id)));
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), &sql, values))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.try_get::<i64>("", "user_id")?,
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
