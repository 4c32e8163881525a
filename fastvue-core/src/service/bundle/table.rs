//! The columns roles and groups share, and the one place a row of either is written.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, ModelTrait,
    QueryFilter,
};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::Bundle;
use crate::domain::Name;
use crate::entity::{group, role};
use crate::error::{Error, Result, map_unique};
use crate::validation::{self, MAX_DESCRIPTION, normalised};

/// Changes to a role or a group.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct BundlePatch {
    /// New name.
    #[validate(custom(function = validation::name_100))]
    pub name: Option<String>,
    /// New description (an empty string clears it; at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
    pub description: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// The own fields of a role or group row as they are stored: the name normalised, a
/// blank description stored as none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BundleFields {
    /// Display name, normalised.
    pub(crate) name: String,
    /// Longer description; never blank.
    pub(crate) description: Option<String>,
    /// Whether it grants anything.
    pub(crate) is_active: bool,
}

impl BundleFields {
    /// The fields as stored, from a name already normalised.
    pub(crate) fn new(name: String, description: Option<String>, is_active: bool) -> Self {
        Self {
            name,
            description: description.filter(|d| !d.trim().is_empty()),
            is_active,
        }
    }

    /// The fields of `old` with `patch` applied (a patch that passed `validate()`).
    pub(crate) fn patched<E: BundleTable>(old: &E::Model, patch: BundlePatch) -> Result<Self> {
        let held = E::fields(old);
        let name = match patch.name.as_deref() {
            Some(n) => normalised("name", Name::parse(n, 100))?.into_inner(),
            None => held.name,
        };
        let description = patch.description.or(held.description);
        let is_active = patch.is_active.unwrap_or(held.is_active);
        Ok(Self::new(name, description, is_active))
    }

    /// Whether the row `model` already holds these fields.
    pub(crate) fn held_by<E: BundleTable>(&self, model: &E::Model) -> bool {
        E::fields(model) == *self
    }

    fn write<A: ActiveModelTrait>(
        &self,
        am: &mut A,
        columns: [<A::Entity as EntityTrait>::Column; 3],
    ) {
        let [name, description, is_active] = columns;
        am.set(name, self.name.as_str().into());
        am.set(description, self.description.clone().into());
        am.set(is_active, self.is_active.into());
    }
}

/// A table of bundles (`roles` or `groups`), through the columns the two share.
pub(crate) trait BundleTable:
    EntityTrait<ActiveModel = Self::Active, Model = Self::Row>
{
    /// The row's active model.
    type Active: ActiveModelTrait<Entity = Self> + ActiveModelBehavior + Send + Sync;
    /// The row.
    type Row: ModelTrait<Entity = Self> + IntoActiveModel<Self::Active> + Serialize + Send + Sync;
    /// Which join table holds its permissions.
    const KIND: Bundle;
    /// What its audit rows call it.
    const ENTITY_TYPE: &'static str;
    /// Its unique constraints, as [`map_unique`] reads them.
    const UNIQUE: &'static [(&'static str, &'static [&'static str])];
    /// `id`.
    const ID: Self::Column;
    /// `company_id`.
    const COMPANY_ID: Self::Column;
    /// `codename`.
    const CODENAME: Self::Column;
    /// `name`.
    const NAME: Self::Column;
    /// `description`.
    const DESCRIPTION: Self::Column;
    /// `is_active`.
    const IS_ACTIVE: Self::Column;
    /// `created_at`.
    const CREATED_AT: Self::Column;
    /// `updated_at`.
    const UPDATED_AT: Self::Column;
    /// The row's id.
    fn id(model: &Self::Row) -> i64;
    /// The row's natural key: (company, codename).
    fn key(model: &Self::Row) -> (Option<i64>, String);
    /// The row's own fields.
    fn fields(model: &Self::Row) -> BundleFields;
}

/// Implements [`BundleTable`] for the entity module `$m`, whose columns carry the
/// shared names.
macro_rules! bundle_table {
    ($m:ident, $kind:expr, $entity_type:literal, $unique:expr) => {
        impl BundleTable for $m::Entity {
            type Active = $m::ActiveModel;
            type Row = $m::Model;
            const KIND: Bundle = $kind;
            const ENTITY_TYPE: &'static str = $entity_type;
            const UNIQUE: &'static [(&'static str, &'static [&'static str])] = $unique;
            const ID: $m::Column = $m::Column::Id;
            const COMPANY_ID: $m::Column = $m::Column::CompanyId;
            const CODENAME: $m::Column = $m::Column::Codename;
            const NAME: $m::Column = $m::Column::Name;
            const DESCRIPTION: $m::Column = $m::Column::Description;
            const IS_ACTIVE: $m::Column = $m::Column::IsActive;
            const CREATED_AT: $m::Column = $m::Column::CreatedAt;
            const UPDATED_AT: $m::Column = $m::Column::UpdatedAt;
            fn id(model: &$m::Model) -> i64 {
                model.id
            }
            fn key(model: &$m::Model) -> (Option<i64>, String) {
                (Option::from(model.company_id), model.codename.clone())
            }
            fn fields(model: &$m::Model) -> BundleFields {
                BundleFields {
                    name: model.name.clone(),
                    description: model.description.clone(),
                    is_active: model.is_active,
                }
            }
        }
    };
}

bundle_table!(
    role,
    Bundle::Role,
    "role",
    &[(
        "codename",
        &[
            "uq_roles_company_codename",
            "uq_roles_global_codename",
            "roles.codename",
        ],
    )]
);
bundle_table!(
    group,
    Bundle::Group,
    "group",
    &[(
        "codename",
        &[
            "uq_groups_company_codename",
            "groups.company_id, groups.codename",
        ],
    )]
);

/// A bundle row's natural key: (company, codename).
pub(crate) fn key_of<E: BundleTable>(model: &E::Model) -> (Option<i64>, String) {
    E::key(model)
}

/// The id of a bundle row.
pub(crate) fn id_of<E: BundleTable>(model: &E::Model) -> i64 {
    E::id(model)
}

/// Inserts a role or group row (a role is never a system role here): the one place
/// either is inserted, by the services and by `data load`. A taken codename is a 409 on
/// `codename`.
pub(crate) async fn insert_row<E, C>(
    db: &C,
    company_id: Option<i64>,
    codename: &str,
    fields: &BundleFields,
    now: DateTime<Utc>,
) -> Result<E::Model>
where
    E: BundleTable,
    C: ConnectionTrait,
{
    let mut am = <E::Active as ActiveModelTrait>::default();
    am.set(E::COMPANY_ID, company_id.into());
    am.set(E::CODENAME, codename.into());
    fields.write(&mut am, [E::NAME, E::DESCRIPTION, E::IS_ACTIVE]);
    am.set(E::CREATED_AT, now.into());
    am.set(E::UPDATED_AT, now.into());
    am.insert(db).await.map_err(|e| map_unique(e, E::UNIQUE))
}

/// Gives the row `old` the fields `fields`: the one place a role or group row changes.
pub(crate) async fn update_row<E, C>(
    db: &C,
    old: E::Model,
    fields: &BundleFields,
    now: DateTime<Utc>,
) -> Result<E::Model>
where
    E: BundleTable,
    C: ConnectionTrait,
{
    let mut am = old.into_active_model();
    fields.write(&mut am, [E::NAME, E::DESCRIPTION, E::IS_ACTIVE]);
    am.set(E::UPDATED_AT, now.into());
    Ok(am.update(db).await?)
}

/// The row `id` of `E`; [`Error::NotFound`] when there is none.
pub(crate) async fn find<E: BundleTable, C: ConnectionTrait>(db: &C, id: i64) -> Result<E::Model> {
    E::find()
        .filter(E::ID.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound {
            entity: E::ENTITY_TYPE,
        })
}
