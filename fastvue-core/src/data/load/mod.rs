//! [`load`]: a checked document written in one transaction, idempotently.
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use crate::Fastvue;
use crate::entity::{
    company, group, group_permission, permission, refresh_token, role, role_permission,
    social_account, user, user_company_role, user_group,
};
use crate::error::Result;
use crate::permission::Change;
use crate::policy::Actor;
use crate::service::audit::{self, AuditContext, Entry};
use crate::service::companies::{self, CompanyFields};
use crate::service::permissions::{self, PermissionFields};
use crate::service::users::{NewUserAudit, PreparedUser, UserChanges, write_new, write_update};
use crate::system::ensure_system_permissions;

use super::parse::*;
use super::{Document, ID_CHUNK};

/// How [`load`] treats what is already in the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Delete every company, user, role, group, assignment and non-system permission
    /// (and, when the document lists menu entries, every menu entry) first, in the same
    /// transaction, so the database ends up holding exactly the document. The audit
    /// trail is kept.
    pub clear: bool,
}

/// What [`load`] did to one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows created.
    pub created: u64,
    /// Rows changed to match the document.
    pub updated: u64,
    /// Rows that already matched.
    pub unchanged: u64,
}

impl Counts {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// What [`load`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Whether the database was cleared first.
    pub cleared: bool,
    /// Companies.
    pub companies: Counts,
    /// Users.
    pub users: Counts,
    /// Permissions.
    pub permissions: Counts,
    /// Roles.
    pub roles: Counts,
    /// Groups.
    pub groups: Counts,
    /// Assignments.
    pub assignments: Counts,
    /// Menu entries.
    pub menus: Counts,
}

impl LoadReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.cleared
            || [
                self.companies,
                self.users,
                self.permissions,
                self.roles,
                self.groups,
                self.assignments,
                self.menus,
            ]
            .iter()
            .any(|c| c.created + c.updated > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    /// `Updated` for a row that was unchanged until a later step changed it.
    fn or_updated(self) -> Self {
        match self {
            Self::Unchanged => Self::Updated,
            other => other,
        }
    }
}

/// Loads `doc` into the database of `fv` (see the [module docs](self)). `progress` is
/// called with (records done, records in all) as the load advances; password hashing
/// counts as work too. Every cached permission set is dropped afterwards.
pub async fn load(
    fv: &Fastvue,
    doc: &Document,
    options: LoadOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<LoadReport> {
    let parsed = parse(doc)?;
    let to_hash = parsed.users.iter().filter(|u| u.password.is_some()).count() as u64;
    let total = doc.records() + to_hash;
    let mut done = 0u64;
    progress(done, total);
    let hashes = password_hashes(fv, &parsed.users, &mut |n| {
        done += n;
        progress(done, total);
    })
    .await?;

    let txn = fv.begin_write().await?;
    let mut report = LoadReport {
        cleared: options.clear,
        ..LoadReport::default()
    };
    if options.clear {
        clear(&txn, !doc.menus.is_empty()).await?;
    }
    ensure_system_permissions(&txn).await?;
    let mut problems = Problems::default();
    let mut w = Writer {
        txn: &txn,
        now: Utc::now(),
        problems: &mut problems,
        ctx: AuditContext::system(),
        signed_out: Vec::new(),
        step: &mut |n| {
            done += n;
            progress(done, total);
        },
    };
    let permissions = w.permissions(&parsed, &mut report).await?;
    let companies = w.companies(&parsed, &mut report).await?;
    let users = w.users(&parsed, &hashes, &companies, &mut report).await?;
    let roles = w
        .roles(&parsed, &companies, &permissions, &mut report)
        .await?;
    w.groups(&parsed, &companies, &permissions, &users, &mut report)
        .await?;
    w.assignments(&parsed, &companies, &users, &roles, &mut report)
        .await?;
    w.menus(&parsed, &companies, &mut report).await?;
    let signed_out = std::mem::take(&mut w.signed_out);
    drop(w);
    // Any reference problem: nothing is committed (dropping the transaction rolls it back).
    problems.into_result()?;
    audit::record(
        &txn,
        &AuditContext::system(),
        Entry {
            action: "load",
            entity_type: "data",
            entity_id: None,
            company_id: None,
            old_values: None,
            new_values: serde_json::to_value(report).ok(),
        },
    )
    .await?;
    let changes = if report.changed() {
        vec![Change::All]
    } else {
        Vec::new()
    };
    fv.commit_changes(txn, &changes).await?;
    for id in signed_out {
        fv.tokens().revoke_all(id).await?;
    }
    Ok(report)
}

/// The hash to store for each user with a `password`: the stored hash when it already
/// matches (read before the transaction; a stale read only costs a fresh hash), else a
/// new one.
async fn password_hashes(
    fv: &Fastvue,
    users: &[PUser],
    step: &mut (dyn FnMut(u64) + Send),
) -> Result<Vec<Option<String>>> {
    let names: Vec<&str> = users
        .iter()
        .filter(|u| u.password.is_some())
        .map(|u| u.username.as_str())
        .collect();
    let mut stored: HashMap<String, Option<String>> = HashMap::new();
    for chunk in names.chunks(ID_CHUNK) {
        for u in user::Entity::find()
            .filter(user::Column::Username.is_in(chunk.iter().copied()))
            .all(fv.db())
            .await?
        {
            stored.insert(u.username, u.password_hash);
        }
    }
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let Some(password) = &u.password else {
            out.push(u.password_hash.clone());
            continue;
        };
        let current = stored.get(&u.username).cloned().flatten();
        let keep = match &current {
            Some(phc) => {
                fv.hasher()
                    .verify_async(password.clone(), Some(phc.clone()))
                    .await?
            }
            None => false,
        };
        out.push(Some(if keep {
            current.unwrap_or_default()
        } else {
            fv.hasher().hash_async(password.clone()).await?
        }));
        step(1);
    }
    Ok(out)
}

/// Deletes what `clear` names, children first (and every menu entry with `menus`: a
/// document that lists entries replaces them; otherwise only the deleted companies'
/// entries go, with their companies).
async fn clear<C: ConnectionTrait>(db: &C, menus: bool) -> Result<()> {
    if menus {
        // Children go with their parents (ON DELETE CASCADE).
        crate::entity::menu::Entity::delete_many().exec(db).await?;
    }
    user_group::Entity::delete_many().exec(db).await?;
    group_permission::Entity::delete_many().exec(db).await?;
    group::Entity::delete_many().exec(db).await?;
    user_company_role::Entity::delete_many().exec(db).await?;
    role_permission::Entity::delete_many().exec(db).await?;
    role::Entity::delete_many().exec(db).await?;
    refresh_token::Entity::delete_many().exec(db).await?;
    social_account::Entity::delete_many().exec(db).await?;
    user::Entity::delete_many().exec(db).await?;
    company::Entity::delete_many().exec(db).await?;
    permission::Entity::delete_many()
        .filter(permission::Column::IsSystem.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

mod grants;
mod menus;

type CompanyIds = HashMap<String, i64>;
type UserIds = HashMap<String, i64>;
type PermissionIds = HashMap<String, i64>;
type RoleIds = HashMap<(Option<i64>, String), i64>;

struct Writer<'a, C> {
    txn: &'a C,
    now: chrono::DateTime<Utc>,
    problems: &'a mut Problems,
    /// Who writes: the system (rows the service functions audit, such as provider
    /// links removed by an email change, are recorded as its).
    ctx: AuditContext,
    /// Users whose sessions end: deactivated, or given a new password.
    signed_out: Vec<i64>,
    step: &'a mut (dyn FnMut(u64) + Send),
}

impl<C: ConnectionTrait> Writer<'_, C> {
    async fn permissions(&mut self, d: &Parsed, report: &mut LoadReport) -> Result<PermissionIds> {
        let mut existing: HashMap<String, permission::Model> = permission::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|p| (p.codename.clone(), p))
            .collect();
        for r in &d.permissions {
            let fields = PermissionFields::new(
                &r.codename,
                r.name.clone(),
                r.description.clone(),
                r.category.clone(),
                r.is_active,
            );
            let outcome = match existing.get(r.codename.as_str()) {
                None => {
                    let m =
                        permissions::insert_row(self.txn, &r.codename, &fields, self.now).await?;
                    existing.insert(m.codename.clone(), m);
                    Outcome::Created
                }
                Some(old) if PermissionFields::of(old) == fields => Outcome::Unchanged,
                Some(old) => {
                    let m = permissions::update_row(self.txn, old, &fields, self.now).await?;
                    existing.insert(m.codename.clone(), m);
                    Outcome::Updated
                }
            };
            report.permissions.count(outcome);
            (self.step)(1);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    async fn companies(&mut self, d: &Parsed, report: &mut LoadReport) -> Result<CompanyIds> {
        let mut existing: HashMap<String, company::Model> = company::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect();
        let mut outcomes = Vec::with_capacity(d.companies.len());
        for r in &d.companies {
            let outcome = match existing.get(&r.code) {
                None => {
                    let fields = CompanyFields {
                        name: r.name.clone(),
                        code: r.code.clone(),
                        parent_id: None,
                        is_active: r.is_active,
                        require_2fa: r.require_2fa,
                    };
                    let m = companies::insert_row(self.txn, &fields, self.now).await?;
                    existing.insert(m.code.clone(), m);
                    Outcome::Created
                }
                Some(old) => {
                    let fields = CompanyFields {
                        name: r.name.clone(),
                        is_active: r.is_active,
                        require_2fa: r.require_2fa,
                        ..CompanyFields::of(old)
                    };
                    if fields == CompanyFields::of(old) {
                        Outcome::Unchanged
                    } else {
                        let m = companies::update_row(self.txn, old, &fields, self.now).await?;
                        existing.insert(m.code.clone(), m);
                        Outcome::Updated
                    }
                }
            };
            outcomes.push(outcome);
        }
        // Parents once every company exists, whatever the order of the document.
        let ids: CompanyIds = existing.iter().map(|(k, v)| (k.clone(), v.id)).collect();
        let mut parents: HashMap<i64, Option<i64>> =
            existing.values().map(|c| (c.id, c.parent_id)).collect();
        for (i, r) in d.companies.iter().enumerate() {
            let parent_id = match &r.parent {
                None => None,
                Some(code) => match ids.get(code) {
                    Some(id) => Some(*id),
                    None => {
                        self.problems.add(
                            format!("companies[{i}].parent"),
                            format!("unknown company {code:?}"),
                        );
                        continue;
                    }
                },
            };
            let old = &existing[&r.code];
            if old.parent_id != parent_id {
                let fields = CompanyFields {
                    parent_id,
                    ..CompanyFields::of(old)
                };
                companies::update_row(self.txn, old, &fields, self.now).await?;
                parents.insert(old.id, parent_id);
                if outcomes[i] == Outcome::Unchanged {
                    outcomes[i] = Outcome::Updated;
                }
            }
        }
        for (i, r) in d.companies.iter().enumerate() {
            let start = ids[&r.code];
            let mut cursor = parents.get(&start).copied().flatten();
            let mut steps = 0;
            while let Some(current) = cursor {
                if current == start || steps > parents.len() {
                    self.problems.add(
                        format!("companies[{i}].parent"),
                        "a company cannot be its own ancestor",
                    );
                    break;
                }
                steps += 1;
                cursor = parents.get(&current).copied().flatten();
            }
        }
        for outcome in outcomes {
            report.companies.count(outcome);
            (self.step)(1);
        }
        Ok(ids)
    }

    async fn users(
        &mut self,
        d: &Parsed,
        hashes: &[Option<String>],
        companies: &CompanyIds,
        report: &mut LoadReport,
    ) -> Result<UserIds> {
        let mut existing: HashMap<String, user::Model> = user::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|u| (u.username.clone(), u))
            .collect();
        // Emails as they will be once the document is applied.
        let listed: HashSet<&str> = d.users.iter().map(|u| u.username.as_str()).collect();
        let mut owners: HashMap<String, String> = existing
            .values()
            .filter(|u| !listed.contains(u.username.as_str()))
            .map(|u| (u.email.clone(), u.username.clone()))
            .collect();
        let mut conflicting = HashSet::new();
        for (i, r) in d.users.iter().enumerate() {
            if let Some(other) = owners.get(&r.email)
                && other != &r.username
            {
                self.problems.add(
                    format!("users[{i}].email"),
                    format!("already used by user {other:?}"),
                );
                conflicting.insert(i);
            }
            owners.insert(r.email.clone(), r.username.clone());
        }
        for (i, (r, hash)) in d.users.iter().zip(hashes).enumerate() {
            let at = format!("users[{i}]");
            if conflicting.contains(&i) {
                (self.step)(1);
                continue;
            }
            let current_company_id = match &r.current_company {
                None => None,
                Some(code) => match companies.get(code) {
                    Some(id) => Some(*id),
                    None => {
                        self.problems.add(
                            format!("{at}.current_company"),
                            format!("unknown company {code:?}"),
                        );
                        (self.step)(1);
                        continue;
                    }
                },
            };
            let outcome = match existing.get(&r.username) {
                None => {
                    let new = PreparedUser {
                        email: r.email.clone(),
                        username: r.username.clone(),
                        password_hash: hash.clone(),
                        full_name: r.full_name.clone(),
                        is_active: r.is_active,
                        is_superuser: r.is_superuser,
                        current_company_id,
                    };
                    let system = Actor::system();
                    let (m, _, _) =
                        write_new(self.txn, &system, &self.ctx, new, None, NewUserAudit::Load)
                            .await
                            .map_err(|e| at_record(&at, e))?;
                    existing.insert(m.username.clone(), m);
                    Outcome::Created
                }
                Some(old) => {
                    let changes = UserChanges {
                        email: Some(r.email.clone()),
                        full_name: Some(r.full_name.clone()),
                        // Without a password in the document, the stored one stays.
                        password_hash: hash.clone().map(Some),
                        is_active: Some(r.is_active),
                        is_superuser: Some(r.is_superuser),
                        current_company_id: Some(current_company_id),
                        ..UserChanges::default()
                    };
                    if changes.differ_from(old) {
                        let written = write_update(self.txn, &self.ctx, old, changes, false)
                            .await
                            .map_err(|e| at_record(&at, e))?;
                        if written.signs_out {
                            self.signed_out.push(old.id);
                        }
                        existing.insert(written.model.username.clone(), written.model);
                        Outcome::Updated
                    } else {
                        Outcome::Unchanged
                    }
                }
            };
            report.users.count(outcome);
            (self.step)(1);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    /// The ids of `codenames`, or a problem per unknown one.
    fn permission_ids(
        &mut self,
        at: &str,
        codenames: &[String],
        permissions: &PermissionIds,
    ) -> Option<BTreeSet<i64>> {
        let mut ids = BTreeSet::new();
        let mut ok = true;
        for (k, c) in codenames.iter().enumerate() {
            match permissions.get(c) {
                Some(id) => {
                    ids.insert(*id);
                }
                None => {
                    self.problems.add(
                        format!("{at}.permissions[{k}]"),
                        format!("unknown permission {c:?}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(ids)
    }

    fn company_id(&mut self, field: String, code: &str, companies: &CompanyIds) -> Option<i64> {
        let id = companies.get(code).copied();
        if id.is_none() {
            self.problems
                .add(field, format!("unknown company {code:?}"));
        }
        id
    }
}
