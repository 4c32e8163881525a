//! What roles and groups have in common: each is a *bundle* of permissions, kept in its
//! own join table (`role_permissions`, `group_permissions`), with the same own fields
//! (name, codename, description, active). Written once here for the roles and groups
//! services and for `data load`:
//! - this module: reading, linking and replacing a bundle's permissions, and how they
//!   read in details and audit rows;
//! - [`table`]: the shared columns, and the one place a role or group row is inserted or
//!   changed;
//! - [`admin`]: the create, update, set-permissions and delete steps both services run
//!   once their own rules have passed.
use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;

use crate::entity::{group_permission, permission, role_permission};
use crate::error::Result;
use crate::permission::Change;
use crate::service::audit::snapshot;

pub(crate) mod admin;
pub(crate) mod table;

pub use table::BundlePatch;
pub(crate) use table::{BundleFields, BundleTable, id_of, insert_row, key_of, update_row};

/// Which kind of bundle, hence which join table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bundle {
    /// A role (`role_permissions`).
    Role,
    /// A group (`group_permissions`).
    Group,
}

impl Bundle {
    /// The cache change of editing bundle `id`'s permissions or state.
    pub(crate) fn change(self, id: i64) -> Change {
        match self {
            Self::Role => Change::Role(id),
            Self::Group => Change::Group(id),
        }
    }

    /// The permissions bundle `id` grants (active or not), by codename.
    pub(crate) async fn permissions_of<C: ConnectionTrait>(
        self,
        db: &C,
        id: i64,
    ) -> Result<Vec<permission::Model>> {
        let ids = match self {
            Self::Role => Query::select()
                .column(role_permission::Column::PermissionId)
                .from(role_permission::Entity)
                .and_where(role_permission::Column::RoleId.eq(id))
                .to_owned(),
            Self::Group => Query::select()
                .column(group_permission::Column::PermissionId)
                .from(group_permission::Entity)
                .and_where(group_permission::Column::GroupId.eq(id))
                .to_owned(),
        };
        Ok(permission::Entity::find()
            .filter(permission::Column::Id.in_subquery(ids))
            .order_by_asc(permission::Column::Codename)
            .all(db)
            .await?)
    }

    /// Adds the permissions `perm_ids` to bundle `id` (which holds none of them yet).
    pub(crate) async fn link<C: ConnectionTrait>(
        self,
        db: &C,
        id: i64,
        perm_ids: impl IntoIterator<Item = i64>,
    ) -> Result<()> {
        let perm_ids: Vec<i64> = perm_ids.into_iter().collect();
        if perm_ids.is_empty() {
            return Ok(());
        }
        match self {
            Self::Role => {
                role_permission::Entity::insert_many(perm_ids.iter().map(|p| {
                    role_permission::ActiveModel {
                        role_id: Set(id),
                        permission_id: Set(*p),
                    }
                }))
                .exec_without_returning(db)
                .await?;
            }
            Self::Group => {
                group_permission::Entity::insert_many(perm_ids.iter().map(|p| {
                    group_permission::ActiveModel {
                        group_id: Set(id),
                        permission_id: Set(*p),
                    }
                }))
                .exec_without_returning(db)
                .await?;
            }
        }
        Ok(())
    }

    /// Every bundle's permission ids, by bundle id (bundles without any are absent).
    pub(crate) async fn all_links<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> Result<HashMap<i64, BTreeSet<i64>>> {
        let pairs: Vec<(i64, i64)> = match self {
            Self::Role => role_permission::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|l| (l.role_id, l.permission_id))
                .collect(),
            Self::Group => group_permission::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|l| (l.group_id, l.permission_id))
                .collect(),
        };
        let mut links: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for (bundle, permission) in pairs {
            links.entry(bundle).or_default().insert(permission);
        }
        Ok(links)
    }

    /// Makes `perm_ids` exactly the permissions of bundle `id`.
    pub(crate) async fn replace<C: ConnectionTrait>(
        self,
        db: &C,
        id: i64,
        perm_ids: impl IntoIterator<Item = i64>,
    ) -> Result<()> {
        match self {
            Self::Role => {
                role_permission::Entity::delete_many()
                    .filter(role_permission::Column::RoleId.eq(id))
                    .exec(db)
                    .await?;
            }
            Self::Group => {
                group_permission::Entity::delete_many()
                    .filter(group_permission::Column::GroupId.eq(id))
                    .exec(db)
                    .await?;
            }
        }
        self.link(db, id, perm_ids).await
    }
}

/// The codenames of `perms`, sorted.
pub(crate) fn sorted_codenames(perms: Vec<permission::Model>) -> Vec<String> {
    let mut names: Vec<String> = perms.into_iter().map(|p| p.codename).collect();
    names.sort_unstable();
    names
}

/// `{"permissions": [sorted codenames]}`, as audit rows record a bundle's permissions.
pub(crate) fn codenames_json(perms: &[permission::Model]) -> serde_json::Value {
    let mut names: Vec<&str> = perms.iter().map(|p| p.codename.as_str()).collect();
    names.sort_unstable();
    serde_json::json!({ "permissions": names })
}

/// The audit snapshot of a bundle's row with its `permissions` added.
pub(crate) fn with_permissions<M: Serialize>(
    model: &M,
    perms: &[permission::Model],
) -> Option<serde_json::Value> {
    let mut value = snapshot(model)?;
    if let (Some(obj), serde_json::Value::Object(p)) =
        (value.as_object_mut(), codenames_json(perms))
    {
        obj.extend(p);
    }
    Some(value)
}
