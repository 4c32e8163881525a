//! The escalation invariant, checked in one place for every write that can change
//! someone's effective permissions.
//!
//! A write by a non-superuser actor in company C
//!
//! - never leaves any user holding, in C, a permission that user did not hold before and
//!   the actor does not hold (the **grant ceiling**), and
//! - never changes the effective permissions of a user who holds, in C, something the
//!   actor does not (**dominance**).
//!
//! A write names the users whose sets it may change ([`Watch`]): the holders of a role,
//! the members of a group, one user's membership, everyone in a company. Inside the
//! write's transaction, [`Guard::before`] reads those users' effective sets and the
//! actor's own set with the engine's one-statement query; the write runs; then
//! [`Guard::check`] reads the sets again, as the transaction sees them, and refuses
//! with [`Error::Forbidden`] when any changed set breaks a rule. The caller then drops
//! the transaction, so a refused write leaves the database as it was. The system and
//! superusers are not checked.
use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use crate::error::{Error, Result};
use crate::permission::change::{Change, MAX_PAIRS, resolve};
use crate::permission::query::{self, Grant};
use crate::sql::{placeholders, statement};

use super::actor::Actor;
use super::held::Held;

/// Users of one company whose effective permissions a write may change.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    company_id: i64,
    users: Vec<i64>,
}

impl Watch {
    /// `users` in `company_id`.
    pub(crate) fn users(company_id: i64, mut users: Vec<i64>) -> Self {
        users.sort_unstable();
        users.dedup();
        Self { company_id, users }
    }

    /// Everyone holding role `role_id`, in every company where it holds (below a
    /// `subtree` assignment too).
    pub(crate) async fn role_holders<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        role_id: i64,
    ) -> Result<Vec<Self>> {
        Self::of_change(actor, db, Change::Role(role_id)).await
    }

    /// Every member of group `group_id`, in every company where the group holds.
    pub(crate) async fn group_members<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        group_id: i64,
    ) -> Result<Vec<Self>> {
        Self::of_change(actor, db, Change::Group(group_id)).await
    }

    /// Everyone holding a role or belonging to a group in `company_id`, and everyone
    /// whose grants from above reach it and the companies below it.
    pub(crate) async fn company_members<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        company_id: i64,
    ) -> Result<Vec<Self>> {
        if actor.is_superuser() {
            return Ok(Vec::new());
        }
        let users = ids(
            db,
            "SELECT user_id AS id FROM user_company_roles WHERE company_id = $1 \
             UNION SELECT ug.user_id AS id FROM user_groups ug \
             JOIN groups g ON g.id = ug.group_id WHERE g.company_id = $1",
            vec![company_id.into()],
        )
        .await?;
        let mut out = vec![Self::users(company_id, users)];
        out.extend(
            Self::of_change(
                actor,
                db,
                Change::Inherited {
                    through: company_id,
                    company_id,
                },
            )
            .await?,
        );
        Ok(out)
    }

    /// `user_id` in every company where it holds a role or belongs to a group, and every
    /// company below its `subtree` ones.
    pub(crate) async fn user_everywhere<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        user_id: i64,
    ) -> Result<Vec<Self>> {
        Self::of_change(actor, db, Change::Grants(user_id)).await
    }

    /// The (user, company) pairs `change` resolves to on `db`, one watch per company;
    /// nothing for the system or a superuser, whose writes are not checked.
    /// [`Error::Forbidden`] when they are too many to check (a change that resolves to
    /// whole users rather than pairs: more than [`MAX_PAIRS`] of them).
    pub(crate) async fn of_change<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        change: Change,
    ) -> Result<Vec<Self>> {
        if actor.is_superuser() {
            return Ok(Vec::new());
        }
        let affected = resolve(db, change).await?;
        if affected.all || !affected.users.is_empty() || !affected.companies.is_empty() {
            return Err(too_wide());
        }
        let mut by_company: HashMap<i64, Vec<i64>> = HashMap::new();
        for (user_id, company_id) in affected.keys {
            by_company.entry(company_id).or_default().push(user_id);
        }
        Ok(by_company
            .into_iter()
            .map(|(company_id, users)| Self::users(company_id, users))
            .collect())
    }
}

fn too_wide() -> Error {
    Error::Forbidden(format!(
        "this change reaches more than {MAX_PAIRS} (user, company) pairs or \
         {MAX_GUARDED_COMPANIES} companies; only a superuser may make it"
    ))
}

/// Most companies whose sets one write by a non-superuser may change: the check reads
/// three statements per company.
pub(crate) const MAX_GUARDED_COMPANIES: usize = 2_000;

async fn ids<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<i64>> {
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<i64>("", "id")?))
        .collect()
}

/// The effective sets of watched users before a write, and what the actor holds.
#[derive(Debug)]
pub(crate) struct Guard {
    companies: Vec<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    company_id: i64,
    held: Held,
    users: Vec<i64>,
    before: HashMap<i64, Vec<Grant>>,
}

impl Guard {
    /// Reads, on `txn` before the write, the effective sets of the `watches` and the
    /// actor's own set in each of their companies. Nothing is read for the system or a
    /// superuser, whose writes are not checked.
    pub(crate) async fn before<C: ConnectionTrait>(
        actor: &Actor,
        txn: &C,
        watches: Vec<Watch>,
    ) -> Result<Self> {
        if actor.is_superuser() {
            return Ok(Self {
                companies: Vec::new(),
            });
        }
        let mut by_company: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        for w in watches {
            by_company.entry(w.company_id).or_default().extend(w.users);
        }
        let merged: Vec<Watch> = by_company
            .into_iter()
            .map(|(company_id, users)| Watch::users(company_id, users))
            .collect();
        if merged.len() > MAX_GUARDED_COMPANIES {
            return Err(too_wide());
        }
        let mut companies = Vec::with_capacity(merged.len());
        for mut w in merged {
            let superusers = superusers_among(txn, &w.users).await?;
            w.users.retain(|u| superusers.binary_search(u).is_err());
            if w.users.is_empty() {
                continue;
            }
            let held = held_in(actor, txn, w.company_id).await?;
            let before = sets(txn, w.company_id, &w.users).await?;
            companies.push(Snapshot {
                company_id: w.company_id,
                held,
                users: w.users,
                before,
            });
        }
        Ok(Self { companies })
    }

    /// Reads the watched sets again on `txn` after the write and checks the invariant
    /// (see the [module docs](self)): [`Error::Forbidden`] naming the first user whose
    /// change breaks it.
    pub(crate) async fn check<C: ConnectionTrait>(self, txn: &C) -> Result<()> {
        for snap in self.companies {
            let after = sets(txn, snap.company_id, &snap.users).await?;
            for user_id in &snap.users {
                let before = snap.before.get(user_id).map_or(&[][..], Vec::as_slice);
                let now = after.get(user_id).map_or(&[][..], Vec::as_slice);
                if before == now {
                    continue;
                }
                let above = snap.held.missing(before.iter().map(|(_, c)| c.as_str()));
                if !above.is_empty() {
                    return Err(Error::Forbidden(format!(
                        "this change would alter the permissions of user {user_id}, who holds \
                         permissions you do not hold in company {}: {}",
                        snap.company_id,
                        above.join(", ")
                    )));
                }
                let gained = now
                    .iter()
                    .filter(|g| before.binary_search_by_key(&g.0, |b| b.0).is_err())
                    .map(|(_, c)| c.as_str());
                let beyond = snap.held.missing(gained);
                if !beyond.is_empty() {
                    return Err(Error::Forbidden(format!(
                        "this change would give user {user_id} permissions you do not hold \
                         in company {}: {}",
                        snap.company_id,
                        beyond.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The superusers among `users`, sorted.
async fn superusers_among<C: ConnectionTrait>(db: &C, users: &[i64]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in users.chunks(query::USERS_PER_STATEMENT) {
        let placeholders = placeholders(1, chunk.len());
        let sql =
            format!("SELECT id FROM users WHERE is_superuser = TRUE AND id IN ({placeholders})");
        out.extend(ids(db, &sql, chunk.iter().map(|&u| u.into()).collect()).await?);
    }
    out.sort_unstable();
    Ok(out)
}

/// What the actor holds in `company_id`, as `txn` sees it (never called for the system
/// or a superuser).
async fn held_in<C: ConnectionTrait>(actor: &Actor, txn: &C, company_id: i64) -> Result<Held> {
    let Some(user_id) = actor.user_id() else {
        return Ok(Held::All);
    };
    if actor.key().is_some_and(|k| k.company_id != company_id) {
        return Ok(Held::nothing());
    }
    let grants = query::effective_permissions(txn, user_id, company_id).await?;
    let held = Held::of(grants.into_iter().map(|(_, c)| c.into()).collect());
    Ok(match actor.key() {
        Some(k) => held.restricted_to(&k.scopes),
        None => held,
    })
}

/// The effective sets of `users` (sorted) in `company_id` on `db`, by permission id.
async fn sets<C: ConnectionTrait>(
    db: &C,
    company_id: i64,
    users: &[i64],
) -> Result<HashMap<i64, Vec<Grant>>> {
    let mut out = HashMap::with_capacity(users.len());
    for chunk in users.chunks(query::USERS_PER_STATEMENT) {
        out.extend(query::effective_permissions_of(db, company_id, chunk).await?);
    }
    Ok(out)
}
