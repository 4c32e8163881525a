//! [`export`]: the database as a [`Document`].
use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::Fastvue;
use crate::entity::grant_scope::GrantScope;
use crate::entity::{
    company, group, group_permission, menu, permission, role, role_permission, user,
    user_company_role, user_group,
};
use crate::error::Result;

use super::Document;
use super::document::*;

/// What [`export`] includes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Write every user's password hash, so that a load elsewhere keeps the passwords.
    /// The file then holds credentials material: protect it like a database backup.
    pub include_password_hashes: bool,
}

/// The whole database as a document, every section sorted by its natural key. Password
/// hashes are left out unless `options` asks for them.
pub async fn export(fv: &Fastvue, options: ExportOptions) -> Result<Document> {
    // One read transaction: a consistent snapshot on PostgreSQL.
    let txn = fv.db().begin().await?;
    let companies = company::Entity::find().all(&txn).await?;
    let users = user::Entity::find().all(&txn).await?;
    let permissions = permission::Entity::find().all(&txn).await?;
    let roles = role::Entity::find().all(&txn).await?;
    let role_perms = role_permission::Entity::find().all(&txn).await?;
    let groups = group::Entity::find().all(&txn).await?;
    let group_perms = group_permission::Entity::find().all(&txn).await?;
    let members = user_group::Entity::find()
        .filter(user_group::Column::IsActive.eq(true))
        .all(&txn)
        .await?;
    let assignments = user_company_role::Entity::find().all(&txn).await?;
    let menus = menu::Entity::find().all(&txn).await?;
    txn.commit().await?;

    let code: HashMap<i64, &str> = companies.iter().map(|c| (c.id, c.code.as_str())).collect();
    let username: HashMap<i64, &str> = users.iter().map(|u| (u.id, u.username.as_str())).collect();
    let codename: HashMap<i64, &str> = permissions
        .iter()
        .map(|p| (p.id, p.codename.as_str()))
        .collect();
    let company_code = |id: Option<i64>| id.and_then(|i| code.get(&i)).map(|c| (*c).to_owned());
    let role_grants = names_by_owner(
        role_perms.iter().map(|rp| (rp.role_id, rp.permission_id)),
        &codename,
    );
    let group_grants = names_by_owner(
        group_perms.iter().map(|gp| (gp.group_id, gp.permission_id)),
        &codename,
    );
    let group_members = names_by_owner(
        (members.iter())
            .filter(|m| m.scope == GrantScope::Company)
            .map(|m| (m.group_id, m.user_id)),
        &username,
    );
    let subtree_members = names_by_owner(
        (members.iter())
            .filter(|m| m.scope == GrantScope::Subtree)
            .map(|m| (m.group_id, m.user_id)),
        &username,
    );
    let role_by_id: HashMap<i64, &role::Model> = roles.iter().map(|r| (r.id, r)).collect();

    let mut doc = Document {
        companies: companies
            .iter()
            .map(|c| CompanyRecord {
                code: c.code.clone(),
                name: c.name.clone(),
                parent: company_code(c.parent_id),
                is_active: c.is_active,
                require_2fa: c.require_2fa,
            })
            .collect(),
        users: users
            .iter()
            .map(|u| UserRecord {
                username: u.username.clone(),
                email: u.email.clone(),
                full_name: u.full_name.clone(),
                is_active: u.is_active,
                is_superuser: u.is_superuser,
                current_company: company_code(u.current_company_id),
                password: None,
                password_hash: u
                    .password_hash
                    .clone()
                    .filter(|_| options.include_password_hashes),
            })
            .collect(),
        permissions: permissions
            .iter()
            .map(|p| PermissionRecord {
                codename: p.codename.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                category: p.category.clone(),
                is_active: p.is_active,
            })
            .collect(),
        roles: roles
            .iter()
            .map(|r| RoleRecord {
                company: company_code(r.company_id),
                codename: r.codename.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                is_active: r.is_active,
                permissions: role_grants.get(&r.id).cloned().unwrap_or_default(),
            })
            .collect(),
        groups: groups
            .iter()
            .map(|g| GroupRecord {
                company: code
                    .get(&g.company_id)
                    .map(|c| (*c).to_owned())
                    .unwrap_or_default(),
                codename: g.codename.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
                is_active: g.is_active,
                permissions: group_grants.get(&g.id).cloned().unwrap_or_default(),
                members: group_members.get(&g.id).cloned().unwrap_or_default(),
                subtree_members: subtree_members.get(&g.id).cloned().unwrap_or_default(),
            })
            .collect(),
        assignments: assignments
            .iter()
            .filter_map(|a| {
                let role = role_by_id.get(&a.role_id)?;
                Some(AssignmentRecord {
                    user: (*username.get(&a.user_id)?).to_owned(),
                    company: (*code.get(&a.company_id)?).to_owned(),
                    role: role.codename.clone(),
                    global_role: role.company_id.is_none(),
                    is_default: a.is_default,
                    is_active: a.is_active,
                    scope: a.scope,
                })
            })
            .collect(),
        menus: {
            let menu_name: HashMap<i64, &str> =
                menus.iter().map(|m| (m.id, m.name.as_str())).collect();
            menus
                .iter()
                .map(|m| MenuRecord {
                    company: company_code(m.company_id),
                    name: m.name.clone(),
                    parent: m
                        .parent_id
                        .and_then(|p| menu_name.get(&p))
                        .map(|n| (*n).to_owned()),
                    path: m.path.clone(),
                    title: m.title.clone(),
                    i18n_key: m.i18n_key.clone(),
                    icon: m.icon.clone(),
                    order: m.sort_order,
                    permissions: m.codenames().map(str::to_owned).collect(),
                    permission_mode: m.permission_mode,
                    is_active: m.is_active,
                })
                .collect()
        },
        ..Document::default()
    };
    doc.companies.sort_by(|a, b| a.code.cmp(&b.code));
    doc.users.sort_by(|a, b| a.username.cmp(&b.username));
    doc.permissions.sort_by(|a, b| a.codename.cmp(&b.codename));
    // Global templates first, then by company and codename.
    doc.roles.sort_by(|a, b| {
        (a.company.is_some(), &a.company, &a.codename).cmp(&(
            b.company.is_some(),
            &b.company,
            &b.codename,
        ))
    });
    doc.groups
        .sort_by(|a, b| (&a.company, &a.codename).cmp(&(&b.company, &b.codename)));
    doc.assignments.sort_by(|a, b| {
        (&a.user, &a.company, &a.role, a.global_role).cmp(&(
            &b.user,
            &b.company,
            &b.role,
            b.global_role,
        ))
    });
    // Global entries first, then by company and name (a load takes parents in any order).
    doc.menus.sort_by(|a, b| {
        (a.company.is_some(), &a.company, &a.name).cmp(&(b.company.is_some(), &b.company, &b.name))
    });
    Ok(doc)
}

/// Owner id -> sorted names of the linked ids (a role's permissions, a group's members).
fn names_by_owner(
    links: impl Iterator<Item = (i64, i64)>,
    names: &HashMap<i64, &str>,
) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (owner, linked) in links {
        if let Some(name) = names.get(&linked) {
            out.entry(owner).or_default().push((*name).to_owned());
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}
