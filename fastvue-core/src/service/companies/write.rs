//! The one place a company row is written: created with its seeded roles, or changed.
//! The API, `data load` and bootstrap all go through here.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set};

use crate::entity::company;
use crate::error::{Result, map_unique};
use crate::service::users::deactivated_at;
use crate::system::ensure_company_roles;

const UNIQUE: &[(&str, &[&str])] = &[("code", &["uq_companies_code", "companies.code"])];

/// A company's own fields, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompanyFields {
    /// Display name, normalised.
    pub(crate) name: String,
    /// Code, normalised (upper case).
    pub(crate) code: String,
    /// Parent company (`None`: top level).
    pub(crate) parent_id: Option<i64>,
    /// Whether anyone holds permissions in it.
    pub(crate) is_active: bool,
    /// Whether its members must sign in with a second factor.
    pub(crate) require_2fa: bool,
}

impl CompanyFields {
    /// The fields `model` holds.
    pub(crate) fn of(model: &company::Model) -> Self {
        Self {
            name: model.name.clone(),
            code: model.code.clone(),
            parent_id: model.parent_id,
            is_active: model.is_active,
            require_2fa: model.require_2fa,
        }
    }
}

/// Inserts a company and ensures its seeded roles (admin, manager, viewer): the one
/// place a company is created. A taken code is a 409 on `code`. The caller checks the
/// parent and the depth, and records the audit row.
pub(crate) async fn insert_row<C: ConnectionTrait>(
    db: &C,
    fields: &CompanyFields,
    now: DateTime<Utc>,
) -> Result<company::Model> {
    let model = company::ActiveModel {
        name: Set(fields.name.clone()),
        code: Set(fields.code.clone()),
        parent_id: Set(fields.parent_id),
        is_active: Set(fields.is_active),
        require_2fa: Set(fields.require_2fa),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(deactivated_at(fields.is_active, None, now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| map_unique(e, UNIQUE))?;
    ensure_company_roles(db, model.id).await?;
    Ok(model)
}

/// Gives the row `old` the fields `fields` (`deleted_at` follows `is_active`): the one
/// place a company row changes. A taken code is a 409 on `code`. The caller checks the
/// parent, cycles and depth, runs the escalation guard and records the audit row.
pub(crate) async fn update_row<C: ConnectionTrait>(
    db: &C,
    old: &company::Model,
    fields: &CompanyFields,
    now: DateTime<Utc>,
) -> Result<company::Model> {
    let mut am = old.clone().into_active_model();
    am.name = Set(fields.name.clone());
    am.code = Set(fields.code.clone());
    am.parent_id = Set(fields.parent_id);
    am.is_active = Set(fields.is_active);
    am.require_2fa = Set(fields.require_2fa);
    am.deleted_at = Set(deactivated_at(fields.is_active, old.deleted_at, now));
    am.updated_at = Set(now);
    am.update(db).await.map_err(|e| map_unique(e, UNIQUE))
}
