//! The one place a row of the permission catalogue is written: the API and `data load`
//! both go through here (bootstrap's system permissions are `crate::system`'s).
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set};

use crate::domain::Codename;
use crate::entity::permission;
use crate::error::{Result, map_unique};

const UNIQUE: &[(&str, &[&str])] = &[(
    "codename",
    &["uq_permissions_codename", "permissions.codename"],
)];

/// A permission's own fields, parsed (the codename never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PermissionFields {
    /// Display name, normalised.
    pub(crate) name: String,
    /// Longer description; never blank.
    pub(crate) description: Option<String>,
    /// Grouping for UIs.
    pub(crate) category: String,
    /// Whether it grants anything.
    pub(crate) is_active: bool,
}

impl PermissionFields {
    /// The fields as stored: a blank description is none, a missing category is the
    /// codename's resource.
    pub(crate) fn new(
        codename: &Codename,
        name: String,
        description: Option<String>,
        category: Option<String>,
        is_active: bool,
    ) -> Self {
        Self {
            name,
            description: description.filter(|d| !d.trim().is_empty()),
            category: category.unwrap_or_else(|| codename.resource().to_owned()),
            is_active,
        }
    }

    /// The fields `model` holds.
    pub(crate) fn of(model: &permission::Model) -> Self {
        Self {
            name: model.name.clone(),
            description: model.description.clone(),
            category: (model.category.clone()).unwrap_or_else(|| model.resource.clone()),
            is_active: model.is_active,
        }
    }
}

/// Inserts a (non-system) permission: the one place one is created. A taken codename is
/// a 409 on `codename`.
pub(crate) async fn insert_row<C: ConnectionTrait>(
    db: &C,
    codename: &Codename,
    fields: &PermissionFields,
    now: DateTime<Utc>,
) -> Result<permission::Model> {
    permission::ActiveModel {
        resource: Set(codename.resource().to_owned()),
        action: Set(codename.action().to_owned()),
        codename: Set(codename.as_str().to_owned()),
        name: Set(fields.name.clone()),
        description: Set(fields.description.clone()),
        category: Set(Some(fields.category.clone())),
        is_system: Set(false),
        is_active: Set(fields.is_active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| map_unique(e, UNIQUE))
}

/// Gives the row `old` the fields `fields`: the one place a permission changes.
pub(crate) async fn update_row<C: ConnectionTrait>(
    db: &C,
    old: &permission::Model,
    fields: &PermissionFields,
    now: DateTime<Utc>,
) -> Result<permission::Model> {
    let mut am = old.clone().into_active_model();
    am.name = Set(fields.name.clone());
    am.description = Set(fields.description.clone());
    am.category = Set(Some(fields.category.clone()));
    am.is_active = Set(fields.is_active);
    am.updated_at = Set(now);
    Ok(am.update(db).await?)
}
