//! What a write changed, and which cached permission sets that affects.
use sea_orm::ConnectionTrait;

use crate::error::Result;
use crate::permission::query::statement;

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
    /// Every company of one user (deactivation, superuser flag).
    User(i64),
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

const ROLE_HOLDERS: &str =
    "SELECT DISTINCT user_id, company_id FROM user_company_roles WHERE role_id = $1";
const GROUP_MEMBERS: &str = "SELECT DISTINCT ug.user_id AS user_id, g.company_id AS company_id \
FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE g.id = $1";
const PERMISSION_HOLDERS: &str = "\
SELECT ucr.user_id AS user_id, ucr.company_id AS company_id FROM user_company_roles ucr \
JOIN role_permissions rp ON rp.role_id = ucr.role_id WHERE rp.permission_id = $1 \
UNION \
SELECT ug.user_id AS user_id, g.company_id AS company_id FROM user_groups ug \
JOIN groups g ON g.id = ug.group_id JOIN group_permissions gp ON gp.group_id = g.id \
WHERE gp.permission_id = $1";
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
        Change::User(id) => out.users.push(id),
        Change::Company(id) => out.companies.push(id),
        Change::Role(id) => out.keys = pairs(db, ROLE_HOLDERS, id).await?,
        Change::Group(id) => out.keys = pairs(db, GROUP_MEMBERS, id).await?,
        Change::Permission(id) => {
            out.keys = pairs(db, PERMISSION_HOLDERS, id).await?;
            out.users = superusers(db).await?;
        }
        Change::Superusers => out.users = superusers(db).await?,
        Change::All => out.all = true,
    }
    Ok(out)
}

async fn pairs<C: ConnectionTrait>(db: &C, sql: &str, id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), sql, vec![id.into()]))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.try_get::<i64>("", "user_id")?,
            row.try_get::<i64>("", "company_id")?,
        ));
    }
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
