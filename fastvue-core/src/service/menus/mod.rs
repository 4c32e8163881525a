//! Menus: the navigation tree an admin frontend shows, stored as entries (global, or
//! per company) that name the permissions which show them. [`Menus::visible`] answers
//! a user's tree in a company; the rest administers entries under the `menu.*`
//! permissions.
//!
//! Rules, besides `menu.*` in the entry's company: global entries are written by
//! superusers only; a non-superuser gates entries only on permissions it holds there,
//! and changes or deletes only entries gated on permissions it holds (so an
//! administrator cannot hide or re-expose the entries of pages beyond its own reach).
//! Menus decide what a frontend shows, never what a caller may do: every route checks
//! its own permission.
mod fields;
mod tree;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, TryIntoModel,
};
use serde::Deserialize;
use validator::Validate;

use crate::Fastvue;
use crate::codenames;
use crate::entity::menu::{self, PermissionMode};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::policy::Actor;
use crate::service::audit::{self, Entry, snapshot};
use crate::service::search::contains_any;
use crate::validation;

pub use fields::{MAX_MENU_PERMISSIONS, MAX_ORDER};
pub use tree::{MenuNode, MenuTree};

use fields::Fields;

/// Entries per company, and global entries: at most this many (a tree is read whole).
pub const MAX_MENUS: u64 = 500;
/// Levels of nesting: an entry has at most this many ancestors plus one.
pub const MAX_MENU_DEPTH: usize = 4;

const UNIQUE: &[(&str, &[&str])] = &[(
    "name",
    &[
        "uq_menus_company_name",
        "uq_menus_global_name",
        "menus.name",
    ],
)];

/// Input for creating a menu entry.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewMenu {
    /// Owning company; `None` makes a global entry (superusers only).
    pub company_id: Option<i64>,
    /// Parent entry: of the same company, or global.
    pub parent_id: Option<i64>,
    /// Name, unique within the company (`users`): lower-case letters, digits, `_`, `-`.
    #[validate(custom(function = validation::slug))]
    pub name: String,
    /// Route path (`/users`), or none for a section.
    #[validate(custom(function = fields::path_rule))]
    pub path: Option<String>,
    /// Title shown.
    #[validate(custom(function = validation::name_100))]
    pub title: String,
    /// Translation key of the title (`menu.users`).
    #[validate(custom(function = fields::i18n_key_rule))]
    pub i18n_key: Option<String>,
    /// Icon name.
    #[validate(custom(function = fields::icon_rule))]
    pub icon: Option<String>,
    /// Position among siblings (default 0), within ±[`MAX_ORDER`].
    #[validate(range(min = -100_000, max = 100_000))]
    pub order: Option<i32>,
    /// Permission codenames that show it (none: every member of the company), at most
    /// [`MAX_MENU_PERMISSIONS`].
    #[serde(default)]
    #[validate(length(max = 16, code = "too_many"))]
    pub permissions: Vec<String>,
    /// Whether any (default) or all of them must be held.
    pub permission_mode: Option<PermissionMode>,
    /// Active (default true).
    pub is_active: Option<bool>,
}

/// Changes to a menu entry (an empty string clears `path`, `i18n_key` and `icon`).
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct MenuPatch {
    /// New parent; `0` makes it a top-level entry.
    pub parent_id: Option<i64>,
    /// New name.
    #[validate(custom(function = validation::slug))]
    pub name: Option<String>,
    /// New path.
    #[validate(custom(function = fields::path_rule))]
    pub path: Option<String>,
    /// New title.
    #[validate(custom(function = validation::name_100))]
    pub title: Option<String>,
    /// New translation key.
    #[validate(custom(function = fields::i18n_key_rule))]
    pub i18n_key: Option<String>,
    /// New icon.
    #[validate(custom(function = fields::icon_rule))]
    pub icon: Option<String>,
    /// New position.
    #[validate(range(min = -100_000, max = 100_000))]
    pub order: Option<i32>,
    /// New permissions (replacing the old).
    #[validate(length(max = 16, code = "too_many"))]
    pub permissions: Option<Vec<String>>,
    /// New mode.
    pub permission_mode: Option<PermissionMode>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// Filters for listing menu entries.
#[derive(Debug, Clone, Default)]
pub struct MenuFilter {
    /// Entries of this company (and, with `include_global`, the global ones).
    pub company_id: Option<i64>,
    /// Also list global entries.
    pub include_global: bool,
    /// Substring of name, title or path.
    pub search: Option<String>,
}

/// Menu administration and each user's menu.
#[derive(Debug, Clone, Copy)]
pub struct Menus<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Menu administration and each user's menu.
    pub fn menus(&self) -> Menus<'_> {
        Menus { fv: self }
    }
}

impl Menus<'_> {
    /// The caller's menu in `company_id` (default: its active company): the active
    /// entries, global and the company's, whose permissions it holds there, as a tree
    /// (children of hidden entries are hidden; a section without a visible child too).
    /// A session's own view: no permission needed, membership of the company is.
    pub async fn visible(&self, actor: &Actor, company_id: Option<i64>) -> Result<MenuTree> {
        let user = actor.session_user()?;
        let (company_id, codenames) = self.fv.users().own_permissions(actor, company_id).await?;
        tree::build(self.fv.db(), user, company_id, codenames).await
    }

    /// [`Menus::visible`] for a user already admitted to `company_id` (a permission
    /// stream re-reading its tree after a change), with no membership check.
    pub async fn tree_for(
        &self,
        user: &crate::entity::user::Model,
        company_id: i64,
    ) -> Result<MenuTree> {
        let codenames = self.fv.authorizer().codenames(user.id, company_id).await?;
        tree::build(self.fv.db(), user, company_id, codenames).await
    }

    /// Creates an entry. Rules: `menu.create` in the active company and in `company_id`;
    /// global entries: superusers only; a non-superuser gates it only on permissions it
    /// holds in that company. At most [`MAX_MENUS`] per company (409).
    pub async fn create(&self, actor: &Actor, input: NewMenu) -> Result<menu::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::MENU_CREATE).await?;
        ensure_may_write(fv, actor, input.company_id, codenames::MENU_CREATE).await?;
        let fields = Fields::parse_new(fv.db(), &input).await?;
        if let Some(c) = input.company_id {
            actor
                .ensure_holds_all(fv, c, fields.codenames(), "gate a menu entry on")
                .await?;
        }
        let txn = fv.begin_write().await?;
        if let Some(company_id) = input.company_id {
            crate::service::lookup::company(&txn, company_id)
                .await
                .map_err(|_| Error::invalid("company_id", "no such company"))?;
        }
        ensure_room(&txn, input.company_id).await?;
        if let Some(parent) = input.parent_id {
            tree::check_parent(&txn, input.company_id, parent, None).await?;
        }
        let now = Utc::now();
        let mut am = menu::ActiveModel {
            company_id: Set(input.company_id),
            parent_id: Set(input.parent_id),
            is_active: Set(input.is_active.unwrap_or(true)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        fields.apply(&mut am);
        let model = am.insert(&txn).await.map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            &actor.audit(),
            Entry {
                action: "create",
                entity_type: "menu",
                entity_id: Some(model.id),
                company_id: model.company_id,
                old_values: None,
                new_values: snapshot(&model),
            },
        )
        .await?;
        fv.commit_changes(txn, &[announce(&model)]).await?;
        Ok(model)
    }

    /// The entry `id`: global entries, and those of companies where the actor holds
    /// `menu.read` (needed in its active company too); others are [`Error::NotFound`].
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<menu::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::MENU_READ).await?;
        let m = find(fv.db(), id).await?;
        if let Some(c) = m.company_id {
            actor
                .ensure_visible(fv, c, codenames::MENU_READ, "menu")
                .await?;
        }
        Ok(m)
    }

    /// Lists entries by parent, order and id: those of companies where the actor holds
    /// `menu.read` (a `company_id` outside them is [`Error::NotFound`]), plus, with
    /// `include_global`, the global ones.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &MenuFilter,
        page: PageRequest,
    ) -> Result<Page<menu::Model>> {
        let fv = self.fv;
        actor.require(fv, codenames::MENU_READ).await?;
        let scope = actor
            .list_scope(fv, codenames::MENU_READ, filter.company_id)
            .await?;
        let mut cond = Condition::any();
        if let Some(company_id) = filter.company_id {
            cond = cond.add(menu::Column::CompanyId.eq(company_id));
        } else if let Some(ids) = scope.ids() {
            cond = cond.add(menu::Column::CompanyId.is_in(ids.iter().copied()));
        } else {
            cond = cond.add(menu::Column::CompanyId.is_not_null());
        }
        if filter.include_global {
            cond = cond.add(menu::Column::CompanyId.is_null());
        }
        let mut q = menu::Entity::find().filter(cond);
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[menu::Column::Name, menu::Column::Title, menu::Column::Path],
                term,
            ));
        }
        let db = fv.db();
        page.fetch(db, q, |q| {
            q.order_by_asc(menu::Column::CompanyId)
                .order_by_asc(menu::Column::SortOrder)
                .order_by_asc(menu::Column::Id)
        })
        .await
    }

    /// Applies a patch. Rules: `menu.update` in the entry's company; global entries:
    /// superusers only; a non-superuser holds the permissions that gate the entry, before
    /// and after. A new parent keeps the tree acyclic and at most [`MAX_MENU_DEPTH`] deep.
    pub async fn update(&self, actor: &Actor, id: i64, patch: MenuPatch) -> Result<menu::Model> {
        let fv = self.fv;
        let found = self.writable(actor, id, codenames::MENU_UPDATE).await?;
        let fields = Fields::parse_patch(fv.db(), &patch).await?;
        if let Some(c) = found.company_id {
            actor
                .ensure_holds_all(fv, c, fields.codenames(), "gate a menu entry on")
                .await?;
        }
        let txn = fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let parent = match patch.parent_id {
            Some(0) => Some(None),
            Some(p) => {
                tree::check_parent(&txn, old.company_id, p, Some(old.id)).await?;
                Some(Some(p))
            }
            None => None,
        };
        let mut am = old.clone().into_active_model();
        fields.apply(&mut am);
        if let Some(p) = parent {
            am.parent_id = Set(p);
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await.map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            &actor.audit(),
            Entry {
                action: "update",
                entity_type: "menu",
                entity_id: Some(id),
                company_id: new.company_id,
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        fv.commit_changes(txn, &[announce(&new)]).await?;
        Ok(new)
    }

    /// Deletes an entry without children (409 otherwise: nothing is deleted by
    /// surprise). Rules as for [`Menus::update`], with `menu.delete`.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        let fv = self.fv;
        self.writable(actor, id, codenames::MENU_DELETE).await?;
        let txn = fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let children = menu::Entity::find()
            .filter(menu::Column::ParentId.eq(id))
            .count(&txn)
            .await?;
        if children > 0 {
            return Err(Error::Conflict {
                field: None,
                message: format!(
                    "the entry has {children} child entries; move or delete them first"
                ),
            });
        }
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            &actor.audit(),
            Entry {
                action: "delete",
                entity_type: "menu",
                entity_id: Some(id),
                company_id: old.company_id,
                old_values: snapshot(&old),
                new_values: None,
            },
        )
        .await?;
        fv.commit_changes(txn, &[announce(&old)]).await?;
        Ok(())
    }

    /// The entry `id` as `actor` may change it with `codename`.
    async fn writable(&self, actor: &Actor, id: i64, codename: &str) -> Result<menu::Model> {
        let fv = self.fv;
        actor.require(fv, codename).await?;
        let m = find(fv.db(), id).await?;
        match m.company_id {
            // Holding `codename` there is the write right; lacking it, the entry is unseen.
            Some(c) => {
                actor.ensure_visible(fv, c, codename, "menu").await?;
                actor
                    .ensure_holds_all(fv, c, m.codenames(), "change a menu entry gated on")
                    .await?;
            }
            None => ensure_may_write(fv, actor, None, codename).await?,
        }
        Ok(m)
    }
}

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upserted {
    /// A new entry.
    Created,
    /// An entry changed to match.
    Updated,
    /// An entry that already matched.
    Unchanged,
}

/// For `data load` (the system acting, inside the load's transaction, which records the
/// audit row and the invalidation): creates the entry `(company_id, name)` of `input` or
/// brings the existing one to it, with the field, size and nesting checks of
/// [`Menus::create`] and [`Menus::update`].
pub(crate) async fn upsert<C: ConnectionTrait>(
    txn: &C,
    input: &NewMenu,
    now: chrono::DateTime<Utc>,
) -> Result<Upserted> {
    let fields = Fields::parse_new(txn, input).await?;
    let name = fields.name().unwrap_or_default().to_owned();
    let existing = menu::Entity::find()
        .filter(same_company(input.company_id))
        .filter(menu::Column::Name.eq(name))
        .one(txn)
        .await?;
    if let Some(parent) = input.parent_id {
        tree::check_parent(
            txn,
            input.company_id,
            parent,
            existing.as_ref().map(|m| m.id),
        )
        .await?;
    }
    let Some(old) = existing else {
        ensure_room(txn, input.company_id).await?;
        let mut am = menu::ActiveModel {
            company_id: Set(input.company_id),
            parent_id: Set(input.parent_id),
            is_active: Set(input.is_active.unwrap_or(true)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        fields.apply(&mut am);
        am.insert(txn).await.map_err(|e| map_unique(e, UNIQUE))?;
        return Ok(Upserted::Created);
    };
    let mut am = old.clone().into_active_model();
    fields.apply(&mut am);
    am.parent_id = Set(input.parent_id);
    am.is_active = Set(input.is_active.unwrap_or(true));
    if am.clone().try_into_model()? == old {
        return Ok(Upserted::Unchanged);
    }
    am.updated_at = Set(now);
    am.update(txn).await.map_err(|e| map_unique(e, UNIQUE))?;
    Ok(Upserted::Updated)
}

/// [`Error::Conflict`] when the company (or the global menu) holds [`MAX_MENUS`] entries.
async fn ensure_room<C: ConnectionTrait>(db: &C, company_id: Option<i64>) -> Result<()> {
    let count = menu::Entity::find()
        .filter(same_company(company_id))
        .count(db)
        .await?;
    if count >= MAX_MENUS {
        return Err(Error::Conflict {
            field: None,
            message: format!("a company (and the global menu) holds at most {MAX_MENUS} entries"),
        });
    }
    Ok(())
}

/// `codename` in `company_id`, or superuser rights for a global entry.
async fn ensure_may_write(
    fv: &Fastvue,
    actor: &Actor,
    company_id: Option<i64>,
    codename: &str,
) -> Result<()> {
    match company_id {
        Some(c) => actor.require_in(fv, c, codename).await,
        None if actor.is_superuser() || actor.is_system() => Ok(()),
        None => Err(Error::Forbidden(
            "global menu entries can be changed by superusers only".into(),
        )),
    }
}

/// Entries of the same company as `company_id` (global entries for `None`).
fn same_company(company_id: Option<i64>) -> Condition {
    match company_id {
        Some(c) => Condition::all().add(menu::Column::CompanyId.eq(c)),
        None => Condition::all().add(menu::Column::CompanyId.is_null()),
    }
}

/// The entry `id`, or [`Error::NotFound`].
async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<menu::Model> {
    menu::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "menu" })
}

/// Who must hear that the menus of an entry's company changed: the company's members
/// (whose permission streams send a `menus` event), or everyone for a global entry.
fn announce(m: &menu::Model) -> Change {
    match m.company_id {
        Some(c) => Change::Company(c),
        None => Change::All,
    }
}
