//! The SQL of the permission engine: effective permissions in one statement, and grant paths.
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;

use crate::error::{Error, Result};

/// Effective permissions of the users `{users}` (a list of numbered parameters from `$2`)
/// in `$1` (company), in ONE statement: nothing for an inactive or deleted user or
/// company; every active permission for a superuser; else the active permissions of the
/// user's active assignments of active roles (of that company or global) and of the
/// active groups of that company the user actively belongs to. One row per user holding
/// anything: `user_id`, and `grants`, a JSON array of `[id, codename]` pairs (`{agg}`: the
/// backend's JSON aggregate), possibly repeated (a permission held through a role and a
/// group): [`effective_permissions_of`] parses, sorts and deduplicates them. One row per
/// user rather than per grant: rows are what the drivers spend their time on, and a role
/// change can wake a thousand users' sets at once.
///
/// The joins are spelled `CROSS JOIN` with their conditions in `WHERE`: PostgreSQL plans
/// that exactly like inner joins, and SQLite, which has no statistics here, takes it as
/// the join order, so every branch starts from the listed users' rows (an index seek per
/// user) instead of scanning roles or grants. `UNION ALL` leaves out the temporary
/// b-trees that deduplicating in SQL would build.
const EFFECTIVE_PERMISSIONS: &str = "\
SELECT grants.user_id AS user_id, \
  CAST({agg} AS TEXT) AS grants FROM ( \
  SELECT ucr.user_id AS user_id, p.id AS id, p.codename AS codename \
  FROM user_company_roles ucr CROSS JOIN roles r CROSS JOIN role_permissions rp \
    CROSS JOIN permissions p \
  WHERE ucr.user_id IN ({users}) AND ucr.company_id = $1 AND ucr.is_active = TRUE \
    AND r.id = ucr.role_id AND r.is_active = TRUE \
    AND (r.company_id IS NULL OR r.company_id = $1) \
    AND rp.role_id = r.id AND p.id = rp.permission_id AND p.is_active = TRUE \
  UNION ALL \
  SELECT ug.user_id, p.id, p.codename \
  FROM user_groups ug CROSS JOIN groups g CROSS JOIN group_permissions gp \
    CROSS JOIN permissions p \
  WHERE ug.user_id IN ({users}) AND ug.is_active = TRUE \
    AND g.id = ug.group_id AND g.company_id = $1 AND g.is_active = TRUE \
    AND gp.group_id = g.id AND p.id = gp.permission_id AND p.is_active = TRUE \
  UNION ALL \
  SELECT su.id, p.id, p.codename FROM users su CROSS JOIN permissions p \
  WHERE su.id IN ({users}) AND su.is_superuser = TRUE AND p.is_active = TRUE \
) grants CROSS JOIN users u CROSS JOIN companies c \
WHERE u.id = grants.user_id AND u.is_active = TRUE AND u.deleted_at IS NULL \
  AND c.id = $1 AND c.is_active = TRUE AND c.deleted_at IS NULL \
GROUP BY grants.user_id";

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
        .pop()
        .map(|(_, grants)| grants)
        .unwrap_or_default())
}

/// Runs the effective-permission query for up to [`USERS_PER_STATEMENT`] users of one
/// company, as one statement: each user holding anything with its grants sorted by id,
/// users in ascending order; a user holding nothing is left out.
pub(crate) async fn effective_permissions_of<C: ConnectionTrait>(
    db: &C,
    company_id: i64,
    user_ids: &[i64],
) -> Result<Vec<(i64, Vec<Grant>)>> {
    debug_assert!(!user_ids.is_empty() && user_ids.len() <= USERS_PER_STATEMENT);
    let backend = db.get_database_backend();
    let placeholders = (2..user_ids.len() + 2)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let agg = match backend {
        DbBackend::Sqlite => "json_group_array(json_array(grants.id, grants.codename))",
        _ => "json_agg(json_build_array(grants.id, grants.codename))",
    };
    let sql = EFFECTIVE_PERMISSIONS
        .replace("{users}", &placeholders)
        .replace("{agg}", agg);
    let mut values: Vec<Value> = Vec::with_capacity(user_ids.len() + 1);
    values.push(company_id.into());
    values.extend(user_ids.iter().map(|&id| Value::from(id)));
    let mut out = Vec::new();
    for row in db.query_all_raw(statement(backend, &sql, values)).await? {
        let user_id = row.try_get::<i64>("", "user_id")?;
        let mut grants: Vec<Grant> = serde_json::from_str(&row.try_get::<String>("", "grants")?)
            .map_err(|e| Error::Internal(format!("unreadable permission grants: {e}")))?;
        grants.sort_unstable_by_key(|&(id, _)| id);
        grants.dedup_by_key(|&mut (id, _)| id);
        out.push((user_id, grants));
    }
    out.sort_unstable_by_key(|&(user_id, _)| user_id);
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
