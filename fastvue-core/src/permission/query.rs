//! The SQL of the permission engine: effective permissions in one statement, and grant paths.
use sea_orm::{ConnectionTrait, DbBackend, Value};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::permission::tree;
use crate::sql::{placeholders, statement};

/// Effective permissions of the users `{users}` (a list of numbered parameters from `$2`)
/// in `$1` (company), in ONE statement: nothing for an inactive or deleted user or
/// company; every active permission for a superuser; else the active permissions of the
/// user's active assignments of active roles (of the assignment's company or global) and
/// of the active groups the user actively belongs to, held in `$1` itself or inherited:
/// a `subtree` assignment (membership) in an ancestor of `$1` holds in `$1` when every
/// company from there down is active ([`tree::UP_CTE`] lists those ancestors, at most
/// [`tree::MAX_COMPANY_DEPTH`] of them). One row per user holding anything: `user_id`,
/// and `grants`, a JSON array of `[id, codename]` pairs (`{agg}`: the backend's JSON
/// aggregate), possibly repeated (a permission held through a role and a group):
/// [`effective_permissions_of`] parses, sorts and deduplicates them. One row per user
/// rather than per grant: rows are what the drivers spend their time on, and a role
/// change can wake a thousand users' sets at once.
///
/// The joins are spelled `CROSS JOIN` with their conditions in `WHERE`: PostgreSQL plans
/// that exactly like inner joins, and SQLite, which has no statistics here, takes it as
/// the join order, so every branch starts from the listed users' rows (an index seek per
/// user and company of the chain) instead of scanning roles or grants. `UNION ALL` leaves
/// out the temporary b-trees that deduplicating in SQL would build. The outer `u.id IN`
/// repeats what the branches imply, so PostgreSQL reads the listed users by key instead
/// of hashing the whole users table (it cannot tell how few rows the union yields).
///
/// `{inherited}` is `up.depth = 0 OR` for the effective set; left empty, only grants
/// that hold over the whole subtree of `$1` count (see [`subtree_permissions`]).
const EFFECTIVE_PERMISSIONS: &str = "\
WITH RECURSIVE {up} \
SELECT grants.user_id AS user_id, \
  CAST({agg} AS TEXT) AS grants FROM ( \
  SELECT ucr.user_id AS user_id, p.id AS id, p.codename AS codename \
  FROM up CROSS JOIN user_company_roles ucr CROSS JOIN roles r \
    CROSS JOIN role_permissions rp CROSS JOIN permissions p \
  WHERE ucr.user_id IN ({users}) AND ucr.company_id = up.id AND ucr.is_active = TRUE \
    AND ({inherited} ucr.scope = 'subtree') \
    AND r.id = ucr.role_id AND r.is_active = TRUE \
    AND (r.company_id IS NULL OR r.company_id = ucr.company_id) \
    AND rp.role_id = r.id AND p.id = rp.permission_id AND p.is_active = TRUE \
  UNION ALL \
  SELECT ug.user_id, p.id, p.codename \
  FROM user_groups ug CROSS JOIN groups g CROSS JOIN up CROSS JOIN group_permissions gp \
    CROSS JOIN permissions p \
  WHERE ug.user_id IN ({users}) AND ug.is_active = TRUE \
    AND g.id = ug.group_id AND g.company_id = up.id AND g.is_active = TRUE \
    AND ({inherited} ug.scope = 'subtree') \
    AND gp.group_id = g.id AND p.id = gp.permission_id AND p.is_active = TRUE \
  UNION ALL \
  SELECT su.id, p.id, p.codename FROM users su CROSS JOIN permissions p \
  WHERE su.id IN ({users}) AND su.is_superuser = TRUE AND p.is_active = TRUE \
) grants CROSS JOIN users u CROSS JOIN companies c \
WHERE u.id = grants.user_id AND u.id IN ({users}) AND u.is_active = TRUE \
  AND u.deleted_at IS NULL AND c.id = $1 AND c.is_active = TRUE AND c.deleted_at IS NULL \
GROUP BY grants.user_id";

/// Users per effective-permission statement: three times this many parameters stay far
/// below SQLite's and PostgreSQL's limits.
pub(crate) const USERS_PER_STATEMENT: usize = 500;

/// Role and group grants of one permission to `$1` in `$2` (for `explain`), held there
/// or inherited from an ancestor (`depth` levels up, through active companies), nearest
/// first.
const GRANT_PATHS: &str = "\
WITH RECURSIVE {up} \
SELECT 'role' AS kind, r.id AS id, r.name AS name, CAST(up.depth AS BIGINT) AS depth, \
  ucr.company_id AS company_id FROM up \
JOIN user_company_roles ucr ON ucr.company_id = up.id \
JOIN roles r ON r.id = ucr.role_id \
JOIN role_permissions rp ON rp.role_id = r.id \
JOIN permissions p ON p.id = rp.permission_id \
WHERE ucr.user_id = $1 AND p.codename = $3 AND (up.depth = 0 OR ucr.scope = 'subtree') \
  AND ucr.is_active = TRUE AND r.is_active = TRUE \
  AND (r.company_id IS NULL OR r.company_id = ucr.company_id) \
UNION ALL \
SELECT 'group' AS kind, g.id AS id, g.name AS name, CAST(up.depth AS BIGINT) AS depth, \
  g.company_id AS company_id FROM up \
JOIN groups g ON g.company_id = up.id \
JOIN user_groups ug ON ug.group_id = g.id \
JOIN group_permissions gp ON gp.group_id = g.id \
JOIN permissions p ON p.id = gp.permission_id \
WHERE ug.user_id = $1 AND p.codename = $3 AND (up.depth = 0 OR ug.scope = 'subtree') \
  AND ug.is_active = TRUE AND g.is_active = TRUE \
ORDER BY depth, kind, id";

/// The chain of companies from `$1` up through which grants are inherited, with names,
/// nearest first (for `explain`).
const CHAIN: &str = "\
WITH RECURSIVE {up} \
SELECT up.id AS id, c.name AS name FROM up JOIN companies c ON c.id = up.id ORDER BY up.depth";

/// The companies where user `$1` holds codename `$2` (not for a superuser, who holds it
/// in every active company; the caller checks the user is active): the active companies
/// of its active assignments of active roles granting it, and of its active groups
/// granting it; below a `subtree` one, every active company reached through active
/// companies, at most [`tree::MAX_COMPANY_DEPTH`] levels down. Ascending ids.
const COMPANIES_WHERE: &str = "\
WITH RECURSIVE roots(company_id, scope) AS ( \
  SELECT ucr.company_id, ucr.scope \
  FROM user_company_roles ucr CROSS JOIN roles r CROSS JOIN role_permissions rp \
    CROSS JOIN permissions p \
  WHERE ucr.user_id = $1 AND ucr.is_active = TRUE \
    AND r.id = ucr.role_id AND r.is_active = TRUE \
    AND (r.company_id IS NULL OR r.company_id = ucr.company_id) \
    AND rp.role_id = r.id AND p.id = rp.permission_id AND p.codename = $2 \
    AND p.is_active = TRUE \
  UNION ALL \
  SELECT g.company_id, ug.scope \
  FROM user_groups ug CROSS JOIN groups g CROSS JOIN group_permissions gp \
    CROSS JOIN permissions p \
  WHERE ug.user_id = $1 AND ug.is_active = TRUE AND g.id = ug.group_id \
    AND g.is_active = TRUE AND gp.group_id = g.id AND p.id = gp.permission_id \
    AND p.codename = $2 AND p.is_active = TRUE \
), \
{down} \
SELECT id FROM down \
UNION \
SELECT c.id AS id FROM roots CROSS JOIN companies c \
WHERE c.id = roots.company_id AND c.is_active = TRUE AND c.deleted_at IS NULL \
ORDER BY id \
LIMIT {limit}";

/// `down(id, depth)`: every active company below the `subtree` rows of `roots(company_id,
/// scope)` (themselves included), reached through active companies, at most
/// [`tree::MAX_COMPANY_DEPTH`] levels down.
const DOWN_CTE: &str = "\
down(id, depth) AS ( \
  SELECT c.id, 0 FROM roots CROSS JOIN companies c \
  WHERE c.id = roots.company_id AND roots.scope = 'subtree' \
    AND c.is_active = TRUE AND c.deleted_at IS NULL \
  UNION \
  SELECT c.id, down.depth + 1 FROM down CROSS JOIN companies c \
  WHERE c.parent_id = down.id AND c.is_active = TRUE AND c.deleted_at IS NULL \
    AND down.depth < {max} \
)";

/// A statement with [`DOWN_CTE`] in place of `{down}`.
fn with_down(sql: &str) -> String {
    sql.replace("{down}", DOWN_CTE)
        .replace("{max}", &tree::MAX_COMPANY_DEPTH.to_string())
}

/// Every active company, ascending (a superuser's reach).
const ACTIVE_COMPANIES: &str = "\
SELECT id FROM companies WHERE is_active = TRUE AND deleted_at IS NULL \
  AND EXISTS (SELECT 1 FROM permissions WHERE codename = $1 AND is_active = TRUE) \
ORDER BY id LIMIT {limit}";

/// The companies where `user_id` holds `codename` (see [`COMPANIES_WHERE`]), ascending,
/// at most [`tree::MAX_SUBTREE`]; every active company for a superuser; none for an
/// inactive, deleted or unknown user.
pub(crate) async fn companies_where<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    codename: &str,
) -> Result<Vec<i64>> {
    let backend = db.get_database_backend();
    let Some(user) = db
        .query_one_raw(statement(
            backend,
            "SELECT is_superuser FROM users WHERE id = $1 AND is_active = TRUE \
             AND deleted_at IS NULL",
            vec![user_id.into()],
        ))
        .await?
    else {
        return Ok(Vec::new());
    };
    let limit = tree::MAX_SUBTREE.to_string();
    let stmt = if user.try_get::<bool>("", "is_superuser")? {
        let sql = ACTIVE_COMPANIES.replace("{limit}", &limit);
        statement(backend, &sql, vec![codename.into()])
    } else {
        let sql = with_down(COMPANIES_WHERE).replace("{limit}", &limit);
        statement(backend, &sql, vec![user_id.into(), codename.into()])
    };
    let mut out = Vec::new();
    for row in db.query_all_raw(stmt).await? {
        out.push(row.try_get::<i64>("", "id")?);
    }
    Ok(out)
}

/// Whether user `$2` holds an active assignment in company `$1`, or a `subtree` one in
/// an ancestor it inherits from (membership: who may act in a company).
const MEMBER: &str = "\
WITH RECURSIVE {up} \
SELECT ucr.id AS id FROM up CROSS JOIN user_company_roles ucr \
WHERE ucr.company_id = up.id AND ucr.user_id = $2 AND ucr.is_active = TRUE \
  AND (up.depth = 0 OR ucr.scope = 'subtree') \
LIMIT 1";

/// See [`MEMBER`].
pub(crate) async fn is_member<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
) -> Result<bool> {
    let sql = MEMBER.replace("{up}", &tree::up_cte("$1"));
    let stmt = statement(
        db.get_database_backend(),
        &sql,
        vec![company_id.into(), user_id.into()],
    );
    Ok(db.query_one_raw(stmt).await?.is_some())
}

/// Whether user `$1` is a member (an active assignment, or a `subtree` one above, through
/// active companies) of an active company that requires two-factor sign-in.
const MEMBER_OF_2FA_COMPANY: &str = "\
WITH RECURSIVE roots(company_id, scope) AS ( \
  SELECT company_id, scope FROM user_company_roles WHERE user_id = $1 AND is_active = TRUE \
), \
{down} \
SELECT c.id AS id FROM companies c \
WHERE c.require_2fa = TRUE AND c.is_active = TRUE \
  AND (c.id IN (SELECT company_id FROM roots) OR c.id IN (SELECT id FROM down)) \
LIMIT 1";

/// See [`MEMBER_OF_2FA_COMPANY`].
pub(crate) async fn member_of_2fa_company<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> Result<bool> {
    let sql = with_down(MEMBER_OF_2FA_COMPANY);
    let stmt = statement(db.get_database_backend(), &sql, vec![user_id.into()]);
    Ok(db.query_one_raw(stmt).await?.is_some())
}

/// The id of the active permission `codename`, if there is one.
pub(crate) async fn active_permission_id<C: ConnectionTrait>(
    db: &C,
    codename: &str,
) -> Result<Option<i64>> {
    let stmt = statement(
        db.get_database_backend(),
        "SELECT id FROM permissions WHERE codename = $1 AND is_active = TRUE",
        vec![codename.into()],
    );
    match db.query_one_raw(stmt).await? {
        Some(row) => Ok(Some(row.try_get::<i64>("", "id")?)),
        None => Ok(None),
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
    run_effective(db, company_id, user_ids, true).await
}

/// What `user_id` holds over the whole subtree of `company_id`: the permissions of its
/// `subtree` assignments and memberships there or inherited from above (everything for a
/// superuser), which hold in every company below, present or future. A grant of a
/// subtree scope by someone who is not a superuser must stay within it.
pub(crate) async fn subtree_permissions<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
) -> Result<Vec<Grant>> {
    Ok(run_effective(db, company_id, &[user_id], false)
        .await?
        .pop()
        .map(|(_, grants)| grants)
        .unwrap_or_default())
}

async fn run_effective<C: ConnectionTrait>(
    db: &C,
    company_id: i64,
    user_ids: &[i64],
    direct: bool,
) -> Result<Vec<(i64, Vec<Grant>)>> {
    debug_assert!(!user_ids.is_empty() && user_ids.len() <= USERS_PER_STATEMENT);
    let backend = db.get_database_backend();
    let placeholders = placeholders(2, user_ids.len());
    let agg = match backend {
        DbBackend::Sqlite => "json_group_array(json_array(grants.id, grants.codename))",
        _ => "json_agg(json_build_array(grants.id, grants.codename))",
    };
    let sql = EFFECTIVE_PERMISSIONS
        .replace("{up}", &tree::up_cte("$1"))
        .replace("{inherited}", if direct { "up.depth = 0 OR" } else { "" })
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

/// A company on a grant's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompanyStep {
    /// Company id.
    pub id: i64,
    /// Company name.
    pub name: String,
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
        /// From the company of the assignment down to the company asked about: one step
        /// for an assignment in that company, more for one inherited from an ancestor.
        path: Vec<CompanyStep>,
    },
    /// Through a group membership.
    Group {
        /// Group id.
        id: i64,
        /// Group name.
        name: String,
        /// From the group's company down to the company asked about (as for roles).
        path: Vec<CompanyStep>,
    },
}

impl GrantPath {
    /// Whether the grant is inherited from an ancestor company.
    pub fn is_inherited(&self) -> bool {
        match self {
            Self::Superuser => false,
            Self::Role { path, .. } | Self::Group { path, .. } => path.len() > 1,
        }
    }

    /// The path in words, e.g. `role Admin assigned on Holding, inherited by Holding ›
    /// Retail › Shop 12`.
    pub fn describe(&self) -> String {
        let (what, name, path) = match self {
            Self::Superuser => return "superuser: holds every permission".into(),
            Self::Role { name, path, .. } => ("role", name, path),
            Self::Group { name, path, .. } => ("group", name, path),
        };
        let verb = if what == "role" { "assigned on" } else { "of" };
        let at = path.first().map_or("?", |c| c.name.as_str());
        if path.len() > 1 {
            let chain: Vec<&str> = path.iter().map(|c| c.name.as_str()).collect();
            format!(
                "{what} {name} {verb} {at}, inherited by {}",
                chain.join(" › ")
            )
        } else {
            format!("{what} {name} {verb} {at}")
        }
    }
}

/// Role and group grant paths of `codename`, nearest first (the caller adds the
/// superuser path and the activity checks).
pub(crate) async fn grant_paths<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    company_id: i64,
    codename: &str,
) -> Result<Vec<GrantPath>> {
    let backend = db.get_database_backend();
    let chain_rows = db
        .query_all_raw(statement(
            backend,
            &CHAIN.replace("{up}", &tree::up_cte("$1")),
            vec![company_id.into()],
        ))
        .await?;
    // Nearest first: chain[d] is the company `d` levels up.
    let mut chain = Vec::with_capacity(chain_rows.len());
    for row in chain_rows {
        chain.push(CompanyStep {
            id: row.try_get("", "id")?,
            name: row.try_get("", "name")?,
        });
    }
    let stmt = statement(
        backend,
        &GRANT_PATHS.replace("{up}", &tree::up_cte("$2")),
        vec![user_id.into(), company_id.into(), codename.into()],
    );
    let mut out = Vec::new();
    for row in db.query_all_raw(stmt).await? {
        let kind: String = row.try_get("", "kind")?;
        let id: i64 = row.try_get("", "id")?;
        let name: String = row.try_get("", "name")?;
        let depth = usize::try_from(row.try_get::<i64>("", "depth")?).unwrap_or(0);
        let path: Vec<CompanyStep> = chain.iter().take(depth + 1).rev().cloned().collect();
        out.push(if kind == "role" {
            GrantPath::Role { id, name, path }
        } else {
            GrantPath::Group { id, name, path }
        });
    }
    Ok(out)
}
