//! Loading roles, groups (with their members) and role assignments. Roles and groups are
//! written by one upsert over the rows both share, through the services' row writers
//! ([`crate::service::bundle`]).
use std::collections::{BTreeSet, HashMap};

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set};

use crate::entity::grant_scope::GrantScope;
use crate::entity::{group, role, user_company_role, user_group};
use crate::error::Result;
use crate::service::assignments::{self, NewAssignment};
use crate::service::bundle::{BundleFields, BundleTable, id_of, insert_row, key_of, update_row};
use crate::service::groups;

use super::{CompanyIds, Counts, LoadReport, Outcome, PermissionIds, RoleIds, UserIds, Writer};
use crate::data::parse::Parsed;

/// One role or group of the document, its references resolved.
struct BundleRecord<'d> {
    company_id: Option<i64>,
    codename: &'d str,
    fields: BundleFields,
    permissions: BTreeSet<i64>,
}

impl<C: ConnectionTrait> Writer<'_, C> {
    /// Creates or updates each record (`None`: a record with a reference problem, left
    /// out) and makes its permissions exactly those listed. Returns every row of the
    /// table by (company, codename), and each record's row id and outcome.
    async fn bundles<E>(
        &mut self,
        records: Vec<Option<BundleRecord<'_>>>,
    ) -> Result<(
        HashMap<(Option<i64>, String), i64>,
        Vec<Option<(i64, Outcome)>>,
    )>
    where
        E: BundleTable,
    {
        let mut existing: HashMap<(Option<i64>, String), E::Model> = E::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|m| (key_of::<E>(&m), m))
            .collect();
        let grants = E::KIND.all_links(self.txn).await?;
        let mut done = Vec::with_capacity(records.len());
        for record in records {
            let Some(r) = record else {
                done.push(None);
                continue;
            };
            let key = (r.company_id, r.codename.to_owned());
            let (id, mut outcome) = match existing.get(&key) {
                None => {
                    let m =
                        insert_row::<E, _>(self.txn, r.company_id, r.codename, &r.fields, self.now)
                            .await?;
                    let id = id_of::<E>(&m);
                    existing.insert(key, m);
                    (id, Outcome::Created)
                }
                Some(old) if r.fields.held_by::<E>(old) => (id_of::<E>(old), Outcome::Unchanged),
                Some(old) => {
                    let m = update_row::<E, _>(self.txn, old.clone(), &r.fields, self.now).await?;
                    (id_of::<E>(&m), Outcome::Updated)
                }
            };
            let held = grants
                .get(&id)
                .map_or(r.permissions.is_empty(), |g| *g == r.permissions);
            if !held {
                E::KIND
                    .replace(self.txn, id, r.permissions.iter().copied())
                    .await?;
                outcome = outcome.or_updated();
            }
            done.push(Some((id, outcome)));
        }
        let ids = existing
            .into_iter()
            .map(|(k, m)| (k, id_of::<E>(&m)))
            .collect();
        Ok((ids, done))
    }

    /// The record of a role or group, or `None` after noting its reference problems.
    fn bundle_record<'d>(
        &mut self,
        at: &str,
        company_id: Option<Option<i64>>,
        codename: &'d str,
        fields: BundleFields,
        codenames: &[String],
        permissions: &PermissionIds,
    ) -> Option<BundleRecord<'d>> {
        let wanted = self.permission_ids(at, codenames, permissions);
        Some(BundleRecord {
            company_id: company_id?,
            codename,
            fields,
            permissions: wanted?,
        })
    }

    pub(super) async fn roles(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        report: &mut LoadReport,
    ) -> Result<RoleIds> {
        let mut records = Vec::with_capacity(d.roles.len());
        for (i, r) in d.roles.iter().enumerate() {
            let at = format!("roles[{i}]");
            (self.step)(1);
            let company_id = match &r.company {
                None => Some(None),
                Some(code) => self
                    .company_id(format!("{at}.company"), code, companies)
                    .map(Some),
            };
            let fields = BundleFields::new(r.name.clone(), r.description.clone(), r.is_active);
            records.push(self.bundle_record(
                &at,
                company_id,
                &r.codename,
                fields,
                &r.permissions,
                permissions,
            ));
        }
        let (ids, done) = self.bundles::<role::Entity>(records).await?;
        count_all(&mut report.roles, &done);
        Ok(ids)
    }

    pub(super) async fn groups(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        users: &UserIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let mut records = Vec::with_capacity(d.groups.len());
        let mut wanted_members = Vec::with_capacity(d.groups.len());
        for (i, r) in d.groups.iter().enumerate() {
            let at = format!("groups[{i}]");
            (self.step)(1);
            let company_id = self
                .company_id(format!("{at}.company"), &r.company, companies)
                .map(Some);
            let fields = BundleFields::new(r.name.clone(), r.description.clone(), r.is_active);
            let record = self.bundle_record(
                &at,
                company_id,
                &r.codename,
                fields,
                &r.permissions,
                permissions,
            );
            let members = self.members(&at, &r.members, &r.subtree_members, users);
            match (record, members) {
                (Some(record), Some(members)) => {
                    records.push(Some(record));
                    wanted_members.push(members);
                }
                _ => {
                    records.push(None);
                    wanted_members.push(BTreeSet::new());
                }
            }
        }
        let (_, mut done) = self.bundles::<group::Entity>(records).await?;
        // Group id -> (user id, active, scope).
        let mut memberships: HashMap<i64, BTreeSet<(i64, bool, GrantScope)>> = HashMap::new();
        for ug in user_group::Entity::find().all(self.txn).await? {
            memberships.entry(ug.group_id).or_default().insert((
                ug.user_id,
                ug.is_active,
                ug.scope,
            ));
        }
        for (slot, members) in done.iter_mut().zip(wanted_members) {
            let Some((id, outcome)) = slot else { continue };
            if memberships.get(id).cloned().unwrap_or_default() != members {
                let listed = members.iter().map(|(user, _, scope)| (*user, *scope));
                groups::replace_members(self.txn, *id, listed, self.now).await?;
                *outcome = outcome.or_updated();
            }
        }
        count_all(&mut report.groups, &done);
        Ok(())
    }

    /// The members a group record lists, as (user id, active, scope), or `None` after
    /// noting each unknown user.
    fn members(
        &mut self,
        at: &str,
        listed: &[String],
        below: &[String],
        users: &UserIds,
    ) -> Option<BTreeSet<(i64, bool, GrantScope)>> {
        let mut members = BTreeSet::new();
        let mut ok = true;
        let lists = [
            ("members", listed, GrantScope::Company),
            ("subtree_members", below, GrantScope::Subtree),
        ];
        for (list, names, scope) in lists {
            for (k, name) in names.iter().enumerate() {
                match users.get(name) {
                    Some(id) => {
                        members.insert((*id, true, scope));
                    }
                    None => {
                        self.problems.add(
                            format!("{at}.{list}[{k}]"),
                            format!("unknown user {name:?}"),
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(members)
    }

    pub(super) async fn assignments(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        users: &UserIds,
        roles: &RoleIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let existing: HashMap<(i64, i64, i64), user_company_role::Model> =
            user_company_role::Entity::find()
                .all(self.txn)
                .await?
                .into_iter()
                .map(|a| ((a.user_id, a.company_id, a.role_id), a))
                .collect();
        for (i, r) in d.assignments.iter().enumerate() {
            let at = format!("assignments[{i}]");
            (self.step)(1);
            let user_id = users.get(&r.user).copied();
            if user_id.is_none() {
                self.problems
                    .add(format!("{at}.user"), format!("unknown user {:?}", r.user));
            }
            let company_id = self.company_id(format!("{at}.company"), &r.company, companies);
            let (Some(user_id), Some(company_id)) = (user_id, company_id) else {
                continue;
            };
            let role_key = (
                if r.global_role {
                    None
                } else {
                    Some(company_id)
                },
                r.role.clone(),
            );
            let Some(role_id) = roles.get(&role_key).copied() else {
                let message = if r.global_role {
                    format!("no global role {:?}", r.role)
                } else {
                    format!("company {} has no role {:?}", r.company, r.role)
                };
                self.problems.add(format!("{at}.role"), message);
                continue;
            };
            let outcome = match existing.get(&(user_id, company_id, role_id)) {
                None => {
                    let input = NewAssignment {
                        company_id,
                        role_id,
                        is_default: r.is_default,
                        scope: r.scope,
                    };
                    assignments::insert_row(self.txn, user_id, &input, r.is_active, None).await?;
                    Outcome::Created
                }
                Some(old)
                    if old.is_default == r.is_default
                        && old.is_active == r.is_active
                        && old.scope == r.scope =>
                {
                    Outcome::Unchanged
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.is_default = Set(r.is_default);
                    am.is_active = Set(r.is_active);
                    am.scope = Set(r.scope);
                    am.update(self.txn).await?;
                    Outcome::Updated
                }
            };
            report.assignments.count(outcome);
        }
        Ok(())
    }
}

/// Counts each written record's outcome.
fn count_all(counts: &mut Counts, done: &[Option<(i64, Outcome)>]) {
    for (_, outcome) in done.iter().flatten() {
        counts.count(*outcome);
    }
}
