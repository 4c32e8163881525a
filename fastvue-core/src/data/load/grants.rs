//! Loading roles, groups (with their members) and role assignments.
use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};

use crate::entity::grant_scope::GrantScope;
use crate::entity::{
    group, group_permission, role, role_permission, user_company_role, user_group,
};
use crate::error::Result;
use crate::service::bundle::Bundle;

use super::{CompanyIds, LoadReport, Outcome, PermissionIds, RoleIds, UserIds, Writer};
use crate::data::parse::Parsed;

impl<C: ConnectionTrait> Writer<'_, C> {
    pub(super) async fn roles(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        report: &mut LoadReport,
    ) -> Result<RoleIds> {
        let mut existing: HashMap<(Option<i64>, String), role::Model> = role::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|r| ((r.company_id, r.codename.clone()), r))
            .collect();
        let mut grants: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for rp in role_permission::Entity::find().all(self.txn).await? {
            grants
                .entry(rp.role_id)
                .or_default()
                .insert(rp.permission_id);
        }
        for (i, r) in d.roles.iter().enumerate() {
            let at = format!("roles[{i}]");
            (self.step)(1);
            let company_id = match &r.company {
                None => None,
                Some(code) => match self.company_id(format!("{at}.company"), code, companies) {
                    Some(id) => Some(id),
                    None => continue,
                },
            };
            let Some(wanted) = self.permission_ids(&at, &r.permissions, permissions) else {
                continue;
            };
            let key = (company_id, r.codename.clone());
            let (id, mut outcome) = match existing.get(&key) {
                None => {
                    let m = role::ActiveModel {
                        name: Set(r.name.clone()),
                        codename: Set(r.codename.clone()),
                        description: Set(r.description.clone()),
                        company_id: Set(company_id),
                        is_system: Set(false),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    let id = m.id;
                    existing.insert(key, m);
                    (id, Outcome::Created)
                }
                Some(old)
                    if old.name == r.name
                        && old.description == r.description
                        && old.is_active == r.is_active =>
                {
                    (old.id, Outcome::Unchanged)
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.description = Set(r.description.clone());
                    am.is_active = Set(r.is_active);
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    (m.id, Outcome::Updated)
                }
            };
            if grants.get(&id).cloned().unwrap_or_default() != wanted {
                Bundle::Role
                    .replace(self.txn, id, wanted.iter().copied())
                    .await?;
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            report.roles.count(outcome);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    pub(super) async fn groups(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        users: &UserIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let mut existing: HashMap<(i64, String), group::Model> = group::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|g| ((g.company_id, g.codename.clone()), g))
            .collect();
        let mut grants: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for gp in group_permission::Entity::find().all(self.txn).await? {
            grants
                .entry(gp.group_id)
                .or_default()
                .insert(gp.permission_id);
        }
        // Group id -> (user id, active, scope).
        let mut memberships: HashMap<i64, BTreeSet<(i64, bool, GrantScope)>> = HashMap::new();
        for ug in user_group::Entity::find().all(self.txn).await? {
            memberships.entry(ug.group_id).or_default().insert((
                ug.user_id,
                ug.is_active,
                ug.scope,
            ));
        }
        for (i, r) in d.groups.iter().enumerate() {
            let at = format!("groups[{i}]");
            (self.step)(1);
            let Some(company_id) = self.company_id(format!("{at}.company"), &r.company, companies)
            else {
                continue;
            };
            let wanted = self.permission_ids(&at, &r.permissions, permissions);
            let mut members = BTreeSet::new();
            let mut ok = wanted.is_some();
            let listed = r
                .members
                .iter()
                .map(|m| (m, "members", GrantScope::Company));
            let below =
                (r.subtree_members.iter()).map(|m| (m, "subtree_members", GrantScope::Subtree));
            for (k, (name, list, scope)) in listed.chain(below).enumerate() {
                match users.get(name) {
                    Some(id) => {
                        members.insert((*id, true, scope));
                    }
                    None => {
                        let k = if list == "members" {
                            k
                        } else {
                            k - r.members.len()
                        };
                        self.problems.add(
                            format!("{at}.{list}[{k}]"),
                            format!("unknown user {name:?}"),
                        );
                        ok = false;
                    }
                }
            }
            let (true, Some(wanted)) = (ok, wanted) else {
                continue;
            };
            let key = (company_id, r.codename.clone());
            let (id, mut outcome) = match existing.get(&key) {
                None => {
                    let m = group::ActiveModel {
                        company_id: Set(company_id),
                        name: Set(r.name.clone()),
                        codename: Set(r.codename.clone()),
                        description: Set(r.description.clone()),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    let id = m.id;
                    existing.insert(key, m);
                    (id, Outcome::Created)
                }
                Some(old)
                    if old.name == r.name
                        && old.description == r.description
                        && old.is_active == r.is_active =>
                {
                    (old.id, Outcome::Unchanged)
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.description = Set(r.description.clone());
                    am.is_active = Set(r.is_active);
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    (m.id, Outcome::Updated)
                }
            };
            if grants.get(&id).cloned().unwrap_or_default() != wanted {
                Bundle::Group
                    .replace(self.txn, id, wanted.iter().copied())
                    .await?;
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            if memberships.get(&id).cloned().unwrap_or_default() != members {
                user_group::Entity::delete_many()
                    .filter(user_group::Column::GroupId.eq(id))
                    .exec(self.txn)
                    .await?;
                if !members.is_empty() {
                    user_group::Entity::insert_many(members.iter().map(|(user_id, _, scope)| {
                        user_group::ActiveModel {
                            user_id: Set(*user_id),
                            group_id: Set(id),
                            is_active: Set(true),
                            joined_at: Set(self.now),
                            scope: Set(*scope),
                        }
                    }))
                    .exec_without_returning(self.txn)
                    .await?;
                }
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            report.groups.count(outcome);
        }
        Ok(())
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
                    user_company_role::ActiveModel {
                        user_id: Set(user_id),
                        company_id: Set(company_id),
                        role_id: Set(role_id),
                        is_default: Set(r.is_default),
                        is_active: Set(r.is_active),
                        assigned_at: Set(self.now),
                        assigned_by: Set(None),
                        scope: Set(r.scope),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
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
