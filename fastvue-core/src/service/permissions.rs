//! Permissions: the `resource.action` catalogue.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::domain::{Checker, Codename, Name};
use crate::entity::{permission, user};
use crate::error::{Error, FieldError, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::service::assignments::not_held;
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::search::contains_any;

const UNIQUE: &[(&str, &[&str])] = &[(
    "codename",
    &["uq_permissions_codename", "permissions.codename"],
)];

/// Input for creating a permission.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPermission {
    /// `resource.action` codename (unique).
    pub codename: String,
    /// Display name.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// Free grouping for UIs (defaults to the resource).
    pub category: Option<String>,
}

/// Changes to a permission (the codename never changes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (an empty string clears it).
    pub description: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// Filters for listing permissions.
#[derive(Debug, Clone, Default)]
pub struct PermissionFilter {
    /// Only this resource.
    pub resource: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Substring of codename or name.
    pub search: Option<String>,
    /// Only active or inactive permissions.
    pub is_active: Option<bool>,
}

/// Permission administration.
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Permissions<'_> {
    /// Creates a permission; superusers hold it at once.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        input: NewPermission,
    ) -> Result<permission::Model> {
        let mut c = Checker::default();
        let codename = c.check("codename", Codename::parse(&input.codename));
        let name = c.check("name", Name::parse(&input.name, 200));
        let category = c.check_opt(
            "category",
            input.category.as_deref().map(|v| Name::parse(v, 50)),
        );
        let (Some(codename), Some(name), Some(category)) = (codename, name, category) else {
            return Err(c.into_error());
        };
        let now = Utc::now();
        let txn = self.fv.begin_write().await?;
        let model = permission::ActiveModel {
            resource: Set(codename.resource().to_owned()),
            action: Set(codename.action().to_owned()),
            category: Set(Some(
                category.map_or_else(|| codename.resource().to_owned(), Name::into_inner),
            )),
            codename: Set(codename.as_str().to_owned()),
            name: Set(name.into_inner()),
            description: Set(input.description.filter(|d| !d.trim().is_empty())),
            is_system: Set(false),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "create",
                entity_type: "permission",
                entity_id: Some(model.id),
                company_id: None,
                old_values: None,
                new_values: snapshot(&model),
            },
        )
        .await?;
        txn.commit().await?;
        self.fv.permissions_changed(Change::Superusers).await;
        Ok(model)
    }

    /// The permission with this id.
    pub async fn get(&self, id: i64) -> Result<permission::Model> {
        find(self.fv.db(), id).await
    }

    /// Lists permissions by codename.
    pub async fn list(
        &self,
        filter: &PermissionFilter,
        page: PageRequest,
    ) -> Result<Page<permission::Model>> {
        let mut q = permission::Entity::find();
        if let Some(r) = &filter.resource {
            q = q.filter(permission::Column::Resource.eq(r.as_str()));
        }
        if let Some(cat) = &filter.category {
            q = q.filter(permission::Column::Category.eq(cat.as_str()));
        }
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[permission::Column::Codename, permission::Column::Name],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(permission::Column::IsActive.eq(active));
        }
        let db = self.fv.db();
        let total = q.clone().count(db).await?;
        let items = q
            .order_by_asc(permission::Column::Codename)
            .offset(page.offset())
            .limit(page.page_size())
            .all(db)
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// Applies a patch; (de)activation changes the sets of everyone who could hold it.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: i64,
        patch: PermissionPatch,
    ) -> Result<permission::Model> {
        let mut c = Checker::default();
        let name = c.check_opt("name", patch.name.as_deref().map(|n| Name::parse(n, 200)));
        let category = c.check_opt(
            "category",
            patch.category.as_deref().map(|v| Name::parse(v, 50)),
        );
        let (Some(name), Some(category)) = (name, category) else {
            return Err(c.into_error());
        };
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.clone().into_active_model();
        if let Some(v) = name {
            am.name = Set(v.into_inner());
        }
        if let Some(v) = category {
            am.category = Set(Some(v.into_inner()));
        }
        if let Some(d) = patch.description {
            am.description = Set(Some(d).filter(|d| !d.trim().is_empty()));
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "update",
                entity_type: "permission",
                entity_id: Some(id),
                company_id: None,
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        txn.commit().await?;
        if old.is_active != new.is_active {
            self.fv.permissions_changed(Change::Permission(id)).await;
        }
        Ok(new)
    }

    /// Deletes a permission that is not a system permission.
    pub async fn delete(&self, ctx: &AuditContext, id: i64) -> Result<()> {
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        if old.is_system {
            return Err(Error::Conflict {
                field: None,
                message: "system permissions cannot be deleted".into(),
            });
        }
        let affected = crate::permission::resolve(&txn, Change::Permission(id)).await?;
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "delete",
                entity_type: "permission",
                entity_id: Some(id),
                company_id: None,
                old_values: snapshot(&old),
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        self.fv.apply_invalidation(affected).await;
        Ok(())
    }

    /// The no-escalation rule for permission sets (a role's, a group's, a new role's):
    /// `grantor` may grant only permissions it holds itself in `company_id`.
    ///
    /// Validates `codenames` first ([`Error::Validation`] on `permissions` for malformed
    /// or unknown ones), then fails with [`Error::Forbidden`] naming each codename that is
    /// neither in `kept` (the set as it is now: keeping a grant is not granting it) nor
    /// held by `grantor` in `company_id`. Superusers hold everything and always pass.
    /// Reads the grantor's set through the authorizer (cached).
    pub async fn ensure_grantable(
        &self,
        grantor: &user::Model,
        company_id: i64,
        codenames: &[String],
        kept: &[permission::Model],
    ) -> Result<()> {
        let wanted = resolve_codenames(self.fv.db(), "permissions", codenames).await?;
        if grantor.is_superuser {
            return Ok(());
        }
        let added: Vec<String> = wanted
            .into_iter()
            .filter(|p| !kept.iter().any(|k| k.id == p.id))
            .map(|p| p.codename)
            .collect();
        let mut missing = not_held(self.fv, grantor.id, company_id, &added).await?;
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        Err(Error::Forbidden(format!(
            "you cannot grant permissions you do not hold in company {company_id}: {}",
            missing.join(", ")
        )))
    }
}

pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<permission::Model> {
    permission::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound {
            entity: "permission",
        })
}

/// The permissions named by `codenames` (deduplicated), or a validation error on `field`
/// listing every malformed or unknown codename.
pub(crate) async fn resolve_codenames<C: ConnectionTrait>(
    db: &C,
    field: &str,
    codenames: &[String],
) -> Result<Vec<permission::Model>> {
    let mut errors = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    for (i, raw) in codenames.iter().enumerate() {
        match Codename::parse(raw) {
            Ok(c) => wanted.push(c.as_str().to_owned()),
            Err(m) => errors.push(FieldError::new(format!("{field}[{i}]"), m)),
        }
    }
    wanted.sort();
    wanted.dedup();
    let found = if wanted.is_empty() {
        Vec::new()
    } else {
        permission::Entity::find()
            .filter(permission::Column::Codename.is_in(wanted.iter().map(String::as_str)))
            .all(db)
            .await?
    };
    for w in &wanted {
        if !found.iter().any(|p| &p.codename == w) {
            errors.push(FieldError::new(field, format!("unknown permission {w}")));
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(Error::Validation(errors))
    }
}
