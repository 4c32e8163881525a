//! Permissions: the `resource.action` catalogue.
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::Fastvue;
use crate::codenames;
use crate::domain::{Codename, Name};
use crate::entity::permission;
use crate::error::{Error, FieldError, Problem, Result};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::policy::Actor;
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::search::contains_any;
use crate::sql::statement;
use crate::validation::{self, MAX_DESCRIPTION, normalised};
use validator::Validate;

/// Most codenames one request may name (a role's or group's permission set, a check).
pub const MAX_CODENAMES: usize = 2_000;

/// Most codenames one permission check may ask about.
pub const MAX_CHECKED: usize = 100;

mod write;

pub(crate) use write::{PermissionFields, insert_row, update_row};

/// Input for creating a permission.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewPermission {
    /// `resource.action` codename (unique).
    #[validate(custom(function = validation::codename))]
    pub codename: String,
    /// Display name.
    #[validate(custom(function = validation::name_200))]
    pub name: String,
    /// Longer description (at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
    pub description: Option<String>,
    /// Free grouping for UIs (defaults to the resource).
    #[validate(custom(function = validation::name_50))]
    pub category: Option<String>,
}

/// Changes to a permission (the codename never changes).
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct PermissionPatch {
    /// New name.
    #[validate(custom(function = validation::name_200))]
    pub name: Option<String>,
    /// New description (an empty string clears it; at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
    pub description: Option<String>,
    /// New category.
    #[validate(custom(function = validation::name_50))]
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

/// How [`Permissions::check`] combines its answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckMode {
    /// Allowed when every permission is held.
    #[default]
    All,
    /// Allowed when at least one is held.
    Any,
}

/// What [`Permissions::check`] asks.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// The user to check (default: the actor).
    pub user_id: Option<i64>,
    /// The company to check in (default: the actor's active company).
    pub company_id: Option<i64>,
    /// Codenames to check (1 to [`MAX_CHECKED`]); unknown ones are simply not held.
    pub permissions: Vec<String>,
    /// How the answers combine.
    pub mode: CheckMode,
}

/// The answer of [`Permissions::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnswer {
    /// The combined answer under the mode.
    pub allowed: bool,
    /// Each codename asked about, and whether it is held.
    pub results: BTreeMap<String, bool>,
}

/// Permission administration.
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Permission administration.
    pub fn permissions(&self) -> Permissions<'_> {
        Permissions { fv: self }
    }
}

impl Permissions<'_> {
    /// The catalogue is shared by every company: changing it changes grants everywhere,
    /// so only superusers (and the system) write it, whatever permissions others hold.
    fn ensure_may_write(actor: &Actor) -> Result<()> {
        if actor.is_superuser() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the permission catalogue is shared by every company; only superusers change it"
                    .into(),
            ))
        }
    }

    /// Creates a permission (superusers only); superusers hold it at once.
    pub async fn create(&self, actor: &Actor, input: NewPermission) -> Result<permission::Model> {
        Self::ensure_may_write(actor)?;
        let ctx = actor.audit();
        input.validate()?;
        let codename = normalised("codename", Codename::parse(&input.codename))?;
        let name = normalised("name", Name::parse(&input.name, 200))?;
        let category = (input.category.as_deref())
            .map(|v| normalised("category", Name::parse(v, 50)))
            .transpose()?;
        let fields = PermissionFields::new(
            &codename,
            name.into_inner(),
            input.description,
            category.map(Name::into_inner),
            true,
        );
        let txn = self.fv.begin_write().await?;
        let model = insert_row(&txn, &codename, &fields, Utc::now()).await?;
        audit::record(
            &txn,
            &ctx,
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
        self.fv.commit_changes(txn, &[Change::Superusers]).await?;
        Ok(model)
    }

    /// The permission `id` (`permission.read` in the active company).
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<permission::Model> {
        actor.require(self.fv, codenames::PERMISSION_READ).await?;
        find(self.fv.db(), id).await
    }

    /// Lists the catalogue by codename (`permission.read` in the active company).
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &PermissionFilter,
        page: PageRequest,
    ) -> Result<Page<permission::Model>> {
        actor.require(self.fv, codenames::PERMISSION_READ).await?;
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
        page.fetch(db, q, |q| q.order_by_asc(permission::Column::Codename))
            .await
    }

    /// Applies a patch (superusers only). (De)activation changes the sets of everyone who
    /// could hold it, in every company; each company whose roles or groups grant it gets
    /// an audit row of its own.
    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        patch: PermissionPatch,
    ) -> Result<permission::Model> {
        Self::ensure_may_write(actor)?;
        let ctx = actor.audit();
        patch.validate()?;
        let name = (patch.name.as_deref())
            .map(|n| normalised("name", Name::parse(n, 200)))
            .transpose()?;
        let category = (patch.category.as_deref())
            .map(|v| normalised("category", Name::parse(v, 50)))
            .transpose()?;
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut fields = PermissionFields::of(&old);
        if let Some(v) = name {
            fields.name = v.into_inner();
        }
        if let Some(v) = category {
            fields.category = v.into_inner();
        }
        if let Some(d) = patch.description {
            fields.description = Some(d).filter(|d| !d.trim().is_empty());
        }
        if let Some(v) = patch.is_active {
            fields.is_active = v;
        }
        let new = update_row(&txn, &old, &fields, Utc::now()).await?;
        let companies = if old.is_active == new.is_active {
            Vec::new()
        } else {
            granting_companies(&txn, id).await?
        };
        record_everywhere(
            &txn,
            &ctx,
            &companies,
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
        let changes = if old.is_active == new.is_active {
            Vec::new()
        } else {
            vec![Change::Permission(id)]
        };
        self.fv.commit_changes(txn, &changes).await?;
        Ok(new)
    }

    /// Deletes a permission that is not a system permission (superusers only); every
    /// company whose roles or groups granted it gets an audit row of its own.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        Self::ensure_may_write(actor)?;
        let ctx = actor.audit();
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        if old.is_system {
            return Err(Error::Conflict {
                field: None,
                message: "system permissions cannot be deleted".into(),
            });
        }
        let affected = crate::permission::resolve(&txn, Change::Permission(id)).await?;
        let companies = granting_companies(&txn, id).await?;
        old.clone().delete(&txn).await?;
        record_everywhere(
            &txn,
            &ctx,
            &companies,
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
        self.fv.commit(txn, affected).await?;
        Ok(())
    }

    /// Whether a user holds permissions in a company. Anyone may check itself in its
    /// active company (no permission needed; answered from the permission cache).
    /// Checking another user, or another company, needs `permission.read` in the active
    /// company and in the company checked ([`Error::NotFound`] for a company outside the
    /// actor's scope, or a user who is not a member of it; superusers check anyone
    /// anywhere). Unknown codenames are not held. 1 to [`MAX_CHECKED`] codenames.
    pub async fn check(&self, actor: &Actor, request: CheckRequest) -> Result<CheckAnswer> {
        let fv = self.fv;
        if request.permissions.is_empty() || request.permissions.len() > MAX_CHECKED {
            return Err(Error::invalid(
                "permissions",
                format!("must name 1 to {MAX_CHECKED} permissions"),
            ));
        }
        let user_id = match (request.user_id, actor.user_id()) {
            (Some(u), _) | (None, Some(u)) => u,
            (None, None) => return Err(Error::invalid("user_id", Problem::required())),
        };
        let company_id = match request.company_id {
            Some(c) => c,
            None => actor.active_company()?,
        };
        if Some(user_id) != actor.user_id() || Some(company_id) != actor.company_id() {
            actor.require(fv, codenames::PERMISSION_READ).await?;
            actor
                .ensure_visible(fv, company_id, codenames::PERMISSION_READ, "company")
                .await?;
            if Some(user_id) != actor.user_id()
                && !actor.is_superuser()
                && !fv.assignments().is_member(user_id, company_id).await?
            {
                return Err(Error::NotFound { entity: "user" });
            }
        }
        let authorizer = fv.authorizer();
        let set = authorizer.permissions(user_id, company_id).await?;
        let catalog = authorizer.catalog();
        let results: BTreeMap<String, bool> = request
            .permissions
            .into_iter()
            .map(|c| {
                let held = catalog.id(&c).is_some_and(|id| set.contains(id));
                (c, held)
            })
            .collect();
        let allowed = match request.mode {
            CheckMode::All => results.values().all(|v| *v),
            CheckMode::Any => results.values().any(|v| *v),
        };
        Ok(CheckAnswer { allowed, results })
    }
}

/// Companies whose roles (held there) or groups grant permission `id`.
async fn granting_companies<C: ConnectionTrait>(db: &C, id: i64) -> Result<Vec<i64>> {
    let sql = "SELECT DISTINCT ucr.company_id AS company_id FROM user_company_roles ucr \
        JOIN role_permissions rp ON rp.role_id = ucr.role_id WHERE rp.permission_id = $1 \
        UNION SELECT r.company_id AS company_id FROM roles r \
        JOIN role_permissions rp ON rp.role_id = r.id \
        WHERE rp.permission_id = $1 AND r.company_id IS NOT NULL \
        UNION SELECT g.company_id AS company_id FROM groups g \
        JOIN group_permissions gp ON gp.group_id = g.id WHERE gp.permission_id = $1";
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), sql, vec![id.into()]))
        .await?;
    let mut out: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "company_id"))
        .collect::<std::result::Result<_, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Records `entry` once globally and once in each of `companies` (a catalogue change is
/// audited in every company it affects).
async fn record_everywhere<C: ConnectionTrait>(
    db: &C,
    ctx: &AuditContext,
    companies: &[i64],
    entry: Entry<'_>,
) -> Result<()> {
    for company_id in companies {
        audit::record(
            db,
            ctx,
            Entry {
                company_id: Some(*company_id),
                old_values: entry.old_values.clone(),
                new_values: entry.new_values.clone(),
                ..entry
            },
        )
        .await?;
    }
    audit::record(db, ctx, entry).await
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
    if codenames.len() > MAX_CODENAMES {
        return Err(Error::invalid(
            field,
            Problem::too_many(MAX_CODENAMES, "permissions"),
        ));
    }
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
            errors.push(FieldError::new(field, Problem::unknown("permission", w)));
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(Error::Validation(errors))
    }
}
