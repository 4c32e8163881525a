//! What a write changed, and which cached permission sets that affects.
use sea_orm::ConnectionTrait;

use crate::entity::grant_scope::GrantScope;
use crate::error::Result;
use crate::permission::tree;
use crate::sql::{placeholders, statement};

/// A write that can change effective permissions. Core services report one after each
/// such write; [`resolve`] turns it into the exact cache entries to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// One user in one company (an assignment or a group membership changed).
    Key {
        /// The user.
        user_id: i64,
        /// The company.
        company_id: i64,
    },
    /// One user in one company and every company below it (a `subtree` assignment or
    /// group membership changed).
    Subtree {
        /// The user.
        user_id: i64,
        /// The top of the subtree.
        company_id: i64,
    },
    /// What company `company_id` and the companies below it inherit from `through` and
    /// its ancestors (the holders of `subtree` grants there): `company_id` was moved
    /// away from (or under) `through`, or `through` = `company_id` changed its activity.
    /// Resolve it before the write for the old ancestors, after it for the new ones.
    Inherited {
        /// The company whose chain of ancestors (itself included) holds the grants.
        through: i64,
        /// The top of the branch that inherits them.
        company_id: i64,
    },
    /// Every company of one user (deactivation, superuser flag).
    User(i64),
    /// The same as [`Change::User`], resolved to (user, company) pairs: each company
    /// where the user holds an assignment or membership, and every company below its
    /// `subtree` ones (for checking a write, not for the cache).
    Grants(i64),
    /// Every user of one company (company deactivation).
    Company(i64),
    /// Every holder of a role (its permissions, activity or existence changed).
    Role(i64),
    /// Every member of a group.
    Group(i64),
    /// Everyone who could hold a permission (its activity or existence changed).
    Permission(i64),
    /// Every superuser (a permission was added, and superusers hold them all).
    Superusers,
    /// Everything.
    All,
}

impl Change {
    /// The change a grant (assignment or membership) of `user_id` in `company_id` with
    /// `scope` makes: that one set, or every set at or below the company.
    pub fn of_grant(user_id: i64, company_id: i64, scope: GrantScope) -> Self {
        match scope {
            GrantScope::Company => Change::Key {
                user_id,
                company_id,
            },
            GrantScope::Subtree => Change::Subtree {
                user_id,
                company_id,
            },
        }
    }
}

/// The cache entries a change affects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affected {
    /// Single (user, company) entries.
    pub keys: Vec<(i64, i64)>,
    /// Every entry of these users.
    pub users: Vec<i64>,
    /// Every entry of these companies.
    pub companies: Vec<i64>,
    /// Every entry.
    pub all: bool,
}

impl Affected {
    /// Whether nothing is affected.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.users.is_empty() && self.companies.is_empty() && !self.all
    }

    /// Adds what `other` affects.
    pub fn merge(&mut self, other: Affected) {
        self.keys.extend(other.keys);
        self.users.extend(other.users);
        self.companies.extend(other.companies);
        self.all |= other.all;
    }
}

/// Most (user, company) pairs one change resolves to; beyond it, the change drops every
/// set of the users concerned instead (still only theirs, and bounded work).
pub(crate) const MAX_PAIRS: usize = 20_000;

const ROLE_HOLDERS: &str =
    "SELECT user_id, company_id, scope FROM user_company_roles WHERE role_id = $1";
const GROUP_MEMBERS: &str = "SELECT ug.user_id AS user_id, g.company_id AS company_id, \
ug.scope AS scope FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE g.id = $1";
const PERMISSION_HOLDERS: &str = "\
SELECT ucr.user_id AS user_id, ucr.company_id AS company_id, ucr.scope AS scope \
FROM user_company_roles ucr \
JOIN role_permissions rp ON rp.role_id = ucr.role_id WHERE rp.permission_id = $1 \
UNION \
SELECT ug.user_id AS user_id, g.company_id AS company_id, ug.scope AS scope FROM user_groups ug \
JOIN groups g ON g.id = ug.group_id JOIN group_permissions gp ON gp.group_id = g.id \
WHERE gp.permission_id = $1";

const USER_GRANTS: &str = "\
SELECT user_id, company_id, scope FROM user_company_roles WHERE user_id = $1 \
UNION ALL \
SELECT ug.user_id AS user_id, g.company_id AS company_id, ug.scope AS scope FROM user_groups ug \
JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1";

/// Every company strictly below the `subtree` rows of `{base}` (rows of `user_id,
/// company_id, scope`), with the row's user, at most [`MAX_PAIRS`] + 1 rows.
const BELOW: &str = "\
WITH RECURSIVE base(user_id, company_id, scope) AS ({base}), \
down(user_id, company_id, depth) AS ( \
  SELECT base.user_id, c.id, 1 FROM base CROSS JOIN companies c \
  WHERE base.scope = 'subtree' AND c.parent_id = base.company_id \
  UNION ALL \
  SELECT down.user_id, c.id, down.depth + 1 FROM down CROSS JOIN companies c \
  WHERE c.parent_id = down.company_id AND down.depth < {max} \
) \
SELECT DISTINCT user_id, company_id FROM down \
LIMIT {limit}";

/// Users holding a `subtree` assignment or membership in one of the companies `{ids}`.
const SUBTREE_HOLDERS: &str = "\
SELECT user_id AS id FROM user_company_roles WHERE scope = 'subtree' AND company_id IN ({ids}) \
UNION SELECT ug.user_id AS id FROM user_groups ug JOIN groups g ON g.id = ug.group_id \
WHERE ug.scope = 'subtree' AND g.company_id IN ({ids})";
const SUPERUSERS: &str = "SELECT id FROM users WHERE is_superuser = TRUE";

/// Resolves a change against the database as `db` sees it (call it inside the write's
/// transaction before a delete, after the commit otherwise).
pub async fn resolve<C: ConnectionTrait>(db: &C, change: Change) -> Result<Affected> {
    let mut out = Affected::default();
    match change {
        Change::Key {
            user_id,
            company_id,
        } => out.keys.push((user_id, company_id)),
        Change::Subtree {
            user_id,
            company_id,
        } => {
            let (below, _) = tree::descendants(db, company_id).await?;
            if below.len() > MAX_PAIRS {
                out.users.push(user_id);
            } else {
                out.keys = below.into_iter().map(|c| (user_id, c)).collect();
            }
        }
        Change::Inherited {
            through,
            company_id,
        } => out = inherited(db, through, company_id).await?,
        Change::User(id) => out.users.push(id),
        Change::Grants(id) => out = expanded(db, USER_GRANTS, id).await?,
        Change::Company(id) => out.companies.push(id),
        Change::Role(id) => out = expanded(db, ROLE_HOLDERS, id).await?,
        Change::Group(id) => out = expanded(db, GROUP_MEMBERS, id).await?,
        Change::Permission(id) => {
            out = expanded(db, PERMISSION_HOLDERS, id).await?;
            out.users.extend(superusers(db).await?);
        }
        Change::Superusers => out.users = superusers(db).await?,
        Change::All => out.all = true,
    }
    Ok(out)
}

/// The pairs of `base` (parameter `$1` = `id`): its rows, and below each `subtree` row
/// every company under its own. When the rows below come to more than [`MAX_PAIRS`], the
/// holders of the `subtree` rows are dropped whole instead (the `company` rows stay
/// pairs, however many, as before subtrees existed).
async fn expanded<C: ConnectionTrait>(db: &C, base: &str, id: i64) -> Result<Affected> {
    let backend = db.get_database_backend();
    let mut out = Affected::default();
    let mut subtree_users = Vec::new();
    for row in db
        .query_all_raw(statement(backend, base, vec![id.into()]))
        .await?
    {
        let user_id = row.try_get::<i64>("", "user_id")?;
        let company_id = row.try_get::<i64>("", "company_id")?;
        out.keys.push((user_id, company_id));
        if row.try_get::<String>("", "scope")? == GrantScope::Subtree.as_str() {
            subtree_users.push(user_id);
        }
    }
    if subtree_users.is_empty() {
        return Ok(out);
    }
    let sql = BELOW
        .replace("{base}", base)
        .replace("{max}", &tree::MAX_COMPANY_DEPTH.to_string())
        .replace("{limit}", &(MAX_PAIRS + 1).to_string());
    let rows = db
        .query_all_raw(statement(backend, &sql, vec![id.into()]))
        .await?;
    if rows.len() > MAX_PAIRS {
        subtree_users.sort_unstable();
        subtree_users.dedup();
        out.users = subtree_users;
        return Ok(out);
    }
    for row in rows {
        out.keys.push((
            row.try_get::<i64>("", "user_id")?,
            row.try_get::<i64>("", "company_id")?,
        ));
    }
    out.keys.sort_unstable();
    out.keys.dedup();
    Ok(out)
}

/// The holders of `subtree` grants in `through` or above it, in `company_id` and every
/// company below it.
async fn inherited<C: ConnectionTrait>(db: &C, through: i64, company_id: i64) -> Result<Affected> {
    let mut out = Affected::default();
    let users = subtree_holders(db, &tree::ancestors(db, through).await?).await?;
    if users.is_empty() {
        return Ok(out);
    }
    let (below, _) = tree::descendants(db, company_id).await?;
    if users.len().saturating_mul(below.len()) > MAX_PAIRS {
        out.users = users;
    } else {
        for &u in &users {
            out.keys.extend(below.iter().map(|&c| (u, c)));
        }
    }
    Ok(out)
}

/// Users with a `subtree` assignment or membership in one of `companies`, ascending.
pub(crate) async fn subtree_holders<C: ConnectionTrait>(
    db: &C,
    companies: &[i64],
) -> Result<Vec<i64>> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for chunk in companies.chunks(500) {
        let ids = placeholders(1, chunk.len());
        let sql = SUBTREE_HOLDERS.replace("{ids}", &ids);
        let values = chunk.iter().map(|&c| c.into()).collect();
        for row in db.query_all_raw(statement(backend, &sql, values)).await? {
            out.push(row.try_get::<i64>("", "id")?);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

async fn superusers<C: ConnectionTrait>(db: &C) -> Result<Vec<i64>> {
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), SUPERUSERS, vec![]))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<i64>("", "id")?))
        .collect()
}

impl Affected {
    /// The cache scopes to drop, widest first.
    pub fn scopes(&self) -> Vec<super::l1::Invalidation> {
        use super::l1::{CacheKey, Invalidation};
        if self.all {
            return vec![Invalidation::All];
        }
        let mut out: Vec<Invalidation> = self
            .companies
            .iter()
            .map(|c| Invalidation::Company(*c))
            .collect();
        out.extend(self.users.iter().map(|u| Invalidation::User(*u)));
        if !self.keys.is_empty() {
            out.push(Invalidation::Keys(
                self.keys
                    .iter()
                    .map(|(u, c)| CacheKey::new(*u, *c))
                    .collect(),
            ));
        }
        out
    }
}
