//! A user's menu as a tree, and the nesting rules of entries (acyclic, at most
//! [`MAX_MENU_DEPTH`] levels). No walk here recurses or loops deeper than that constant,
//! whatever the rows say.
use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::entity::menu::{self, PermissionMode};
use crate::entity::user;
use crate::error::{Error, Result};
use crate::policy::Held;

use super::{MAX_MENU_DEPTH, MAX_MENUS};

/// A user's menu in one company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuTree {
    /// The company.
    pub company_id: i64,
    /// The top-level entries, by order then id, each with its visible children.
    pub items: Vec<MenuNode>,
    /// A strong validator of this tree (for `ETag`); changes whenever the tree does.
    #[serde(skip)]
    pub etag: String,
}

/// One visible entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuNode {
    /// Entry id.
    pub id: i64,
    /// Name (a route name).
    pub name: String,
    /// Route path; `None` for a section.
    pub path: Option<String>,
    /// Title.
    pub title: String,
    /// Translation key of the title.
    pub i18n_key: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// Position among siblings.
    pub order: i32,
    /// Visible children, by order then id.
    pub children: Vec<MenuNode>,
}

/// The tree of `user` in `company_id` holding `codenames` there.
pub(super) async fn build<C: ConnectionTrait>(
    db: &C,
    user: &user::Model,
    company_id: i64,
    codenames: Vec<Arc<str>>,
) -> Result<MenuTree> {
    let held = if user.is_superuser {
        Held::All
    } else {
        Held::of(codenames)
    };
    let rows = menu::Entity::find()
        .filter(menu::Column::IsActive.eq(true))
        .filter(
            Condition::any()
                .add(menu::Column::CompanyId.is_null())
                .add(menu::Column::CompanyId.eq(company_id)),
        )
        .order_by_asc(menu::Column::SortOrder)
        .order_by_asc(menu::Column::Id)
        .limit(2 * MAX_MENUS)
        .all(db)
        .await?;
    let mut children: HashMap<Option<i64>, Vec<menu::Model>> = HashMap::new();
    for row in rows.into_iter().filter(|r| shows(r, &held)) {
        children.entry(row.parent_id).or_default().push(row);
    }
    let items = level(&mut children, None, 1);
    let etag = etag(company_id, &items);
    Ok(MenuTree {
        company_id,
        items,
        etag,
    })
}

/// Whether `held` shows the entry `m` (its own permissions; its parents are checked by
/// the walk).
fn shows(m: &menu::Model, held: &Held) -> bool {
    let mut wanted = m.codenames().peekable();
    if wanted.peek().is_none() {
        return true;
    }
    match m.permission_mode {
        PermissionMode::Any => wanted.any(|c| held.contains(c)),
        PermissionMode::All => wanted.all(|c| held.contains(c)),
    }
}

/// The visible entries under `parent`, at `depth` (1 for the top), with theirs.
fn level(
    children: &mut HashMap<Option<i64>, Vec<menu::Model>>,
    parent: Option<i64>,
    depth: usize,
) -> Vec<MenuNode> {
    let Some(rows) = children.remove(&parent) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let kids = if depth < MAX_MENU_DEPTH {
            level(children, Some(m.id), depth + 1)
        } else {
            Vec::new()
        };
        // A section shows only to lead somewhere.
        if m.path.is_none() && kids.is_empty() {
            continue;
        }
        out.push(MenuNode {
            id: m.id,
            name: m.name,
            path: m.path,
            title: m.title,
            i18n_key: m.i18n_key,
            icon: m.icon,
            order: m.sort_order,
            children: kids,
        });
    }
    out
}

/// `"m{company}-{hash}"`: a hash of the tree's JSON (stable across processes).
fn etag(company_id: i64, items: &[MenuNode]) -> String {
    let json = serde_json::to_vec(items).unwrap_or_default();
    let mut hash = crate::etag::Fnv::new();
    hash.feed(&json);
    format!("\"m{company_id}-{:016x}\"", hash.finish())
}

/// [`Error::Validation`] on `parent_id` unless entry `parent` may hold an entry of
/// `company_id` (`moving`, when an existing entry moves under it): it exists, belongs
/// to the same company or is global (a global entry's parent is global), is not
/// `moving` or below it, and the result nests at most [`MAX_MENU_DEPTH`] levels.
pub(super) async fn check_parent<C: ConnectionTrait>(
    db: &C,
    company_id: Option<i64>,
    parent: i64,
    moving: Option<i64>,
) -> Result<()> {
    let invalid = |m: &str| Error::invalid("parent_id", m);
    let Some(p) = menu::Entity::find_by_id(parent).one(db).await? else {
        return Err(invalid("no such menu entry"));
    };
    if p.company_id.is_some() && p.company_id != company_id {
        return Err(invalid(
            "must be an entry of the same company, or a global one",
        ));
    }
    // The parent's depth: walk up, never more than the limit allows.
    let mut depth = 1;
    let mut up = p.parent_id;
    if Some(p.id) == moving {
        return Err(invalid("an entry cannot be its own parent"));
    }
    while let Some(id) = up {
        if Some(id) == moving {
            return Err(invalid("an entry cannot move below itself"));
        }
        depth += 1;
        if depth > MAX_MENU_DEPTH {
            return Err(invalid(&format!(
                "menus nest at most {MAX_MENU_DEPTH} levels"
            )));
        }
        up = menu::Entity::find_by_id(id)
            .one(db)
            .await?
            .and_then(|m| m.parent_id);
    }
    let height = match moving {
        Some(id) => height(db, id).await?,
        None => 1,
    };
    if depth + height > MAX_MENU_DEPTH {
        return Err(invalid(&format!(
            "menus nest at most {MAX_MENU_DEPTH} levels"
        )));
    }
    Ok(())
}

/// Levels in the subtree of entry `id` (1: no children), counted level by level up to
/// one past the limit.
async fn height<C: ConnectionTrait>(db: &C, id: i64) -> Result<usize> {
    let mut level = vec![id];
    let mut height = 0;
    while !level.is_empty() && height <= MAX_MENU_DEPTH {
        height += 1;
        level = menu::Entity::find()
            .filter(menu::Column::ParentId.is_in(level))
            .select_only()
            .column(menu::Column::Id)
            .limit(MAX_MENUS * 2)
            .into_tuple::<i64>()
            .all(db)
            .await?;
    }
    Ok(height)
}
