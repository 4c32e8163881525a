//! The checked fields of a menu entry, from a [`NewMenu`] or a [`MenuPatch`]: every
//! problem is reported at once.
use sea_orm::{ConnectionTrait, Set};

use crate::domain::{Checker, Name, Slug};
use crate::entity::menu::{self, PermissionMode};
use crate::error::{Problem, Result};
use crate::service::permissions::resolve_codenames;

use super::{MenuPatch, NewMenu};

/// Permissions that gate one entry: at most this many.
pub const MAX_MENU_PERMISSIONS: usize = 16;
/// `order` lies within ±this.
const MAX_ORDER: i32 = 100_000;

/// Parsed fields; `None` leaves a column as it is (on a patch).
#[derive(Debug, Default)]
pub(super) struct Fields {
    name: Option<String>,
    path: Option<Option<String>>,
    title: Option<String>,
    i18n_key: Option<Option<String>>,
    icon: Option<Option<String>>,
    order: Option<i32>,
    /// Sorted codenames, when given.
    permissions: Option<Vec<String>>,
    mode: Option<PermissionMode>,
}

impl Fields {
    /// The fields of a new entry.
    pub(super) async fn parse_new<C: ConnectionTrait>(db: &C, input: &NewMenu) -> Result<Self> {
        let mut c = Checker::default();
        let mut f = Fields {
            name: c.check("name", Slug::parse(&input.name).map(Slug::into_inner)),
            path: c.check("path", optional(input.path.as_deref(), route_path)),
            title: c.check(
                "title",
                Name::parse(&input.title, 100).map(Name::into_inner),
            ),
            i18n_key: c.check("i18n_key", optional(input.i18n_key.as_deref(), i18n_key)),
            icon: c.check("icon", optional(input.icon.as_deref(), icon)),
            order: c.check("order", order(input.order.unwrap_or(0))),
            permissions: None,
            mode: Some(input.permission_mode.unwrap_or_default()),
        };
        f.permissions = permissions(db, &mut c, &input.permissions).await?;
        f.finish(c)
    }

    /// The fields a patch changes.
    pub(super) async fn parse_patch<C: ConnectionTrait>(db: &C, patch: &MenuPatch) -> Result<Self> {
        let mut c = Checker::default();
        let mut f = Fields {
            name: patch
                .name
                .as_deref()
                .and_then(|n| c.check("name", Slug::parse(n).map(Slug::into_inner))),
            path: (patch.path.as_deref())
                .and_then(|p| c.check("path", optional(Some(p), route_path))),
            title: (patch.title.as_deref())
                .and_then(|t| c.check("title", Name::parse(t, 100).map(Name::into_inner))),
            i18n_key: (patch.i18n_key.as_deref())
                .and_then(|k| c.check("i18n_key", optional(Some(k), i18n_key))),
            icon: (patch.icon.as_deref()).and_then(|i| c.check("icon", optional(Some(i), icon))),
            order: patch.order.and_then(|o| c.check("order", order(o))),
            permissions: None,
            mode: patch.permission_mode,
        };
        if let Some(list) = &patch.permissions {
            f.permissions = permissions(db, &mut c, list).await?;
        }
        f.finish(c)
    }

    fn finish(self, c: Checker) -> Result<Self> {
        if c.is_empty() {
            Ok(self)
        } else {
            Err(c.into_error())
        }
    }

    /// The new name, when this sets one.
    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The codenames that will gate the entry, when this changes them.
    pub(super) fn codenames(&self) -> impl Iterator<Item = &str> {
        self.permissions.iter().flatten().map(String::as_str)
    }

    /// Sets the columns these fields change.
    pub(super) fn apply(self, am: &mut menu::ActiveModel) {
        if let Some(v) = self.name {
            am.name = Set(v);
        }
        if let Some(v) = self.path {
            am.path = Set(v);
        }
        if let Some(v) = self.title {
            am.title = Set(v);
        }
        if let Some(v) = self.i18n_key {
            am.i18n_key = Set(v);
        }
        if let Some(v) = self.icon {
            am.icon = Set(v);
        }
        if let Some(v) = self.order {
            am.sort_order = Set(v);
        }
        if let Some(v) = self.permissions {
            am.permissions = Set(v.join(" "));
        }
        if let Some(v) = self.mode {
            am.permission_mode = Set(v);
        }
    }
}

/// The known permissions of `list`, sorted; problems go to `c` (`None` then).
async fn permissions<C: ConnectionTrait>(
    db: &C,
    c: &mut Checker,
    list: &[String],
) -> Result<Option<Vec<String>>> {
    if list.len() > MAX_MENU_PERMISSIONS {
        c.fail(
            "permissions",
            Problem::too_many(MAX_MENU_PERMISSIONS, "permissions"),
        );
        return Ok(None);
    }
    match resolve_codenames(db, "permissions", list).await {
        Ok(found) => {
            let mut names: Vec<String> = found.into_iter().map(|p| p.codename).collect();
            names.sort_unstable();
            Ok(Some(names))
        }
        Err(crate::Error::Validation(errors)) => {
            c.extend(errors);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// An optional text: absent or blank is `None`, else `parse` of the trimmed value.
fn optional(
    raw: Option<&str>,
    parse: fn(&str) -> Result<String, Problem>,
) -> Result<Option<String>, Problem> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some),
    }
}

/// A frontend route path: `/`, then letters, digits and `/_-.:~` (`:` for route
/// parameters); never `//` at the start (a browser would take it for another host).
fn route_path(v: &str) -> Result<String, Problem> {
    if v.len() > 200 {
        return Err(Problem::at_most(200));
    }
    if !v.starts_with('/') || v.starts_with("//") {
        return Err(Problem::format("must start with a single '/'", "/path"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | ':' | '~'))
    {
        return Err(Problem::characters(
            "letters, digits and / _ - . : ~",
            "a-zA-Z0-9/_.:~-",
        ));
    }
    Ok(v.to_owned())
}

/// A translation key: letters, digits, `_`, `-` and `.`; at most 100 characters.
fn i18n_key(v: &str) -> Result<String, Problem> {
    token(v, 100, &['_', '-', '.'])
}

/// An icon name: letters, digits, `_`, `-` and `:`; at most 64 characters.
fn icon(v: &str) -> Result<String, Problem> {
    token(v, 64, &['_', '-', ':'])
}

fn token(v: &str, max: usize, extra: &[char]) -> Result<String, Problem> {
    if v.len() > max {
        return Err(Problem::at_most(max));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    {
        let words: String = extra.iter().map(|c| format!(" {c}")).collect();
        let class: String = extra.iter().filter(|c| **c != '-').collect();
        let dash = if extra.contains(&'-') { "-" } else { "" };
        return Err(Problem::characters(
            &format!("letters, digits and{words}"),
            &format!("a-zA-Z0-9{class}{dash}"),
        ));
    }
    Ok(v.to_owned())
}

fn order(v: i32) -> Result<i32, Problem> {
    // Not `abs()`: it overflows on i32::MIN.
    if !(-MAX_ORDER..=MAX_ORDER).contains(&v) {
        return Err(Problem::range(-i64::from(MAX_ORDER), i64::from(MAX_ORDER)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths_are_relative_to_the_app_and_never_another_host() {
        assert!(route_path("/users").is_ok());
        assert!(route_path("/users/:id").is_ok());
        assert!(route_path("/").is_ok());
        assert!(route_path("//evil.example").is_err());
        assert!(route_path("https://evil.example").is_err());
        assert!(route_path("/a b").is_err());
        assert!(route_path("users").is_err());
        assert!(route_path(&format!("/{}", "a".repeat(200))).is_err());
    }

    #[test]
    fn icons_and_keys_take_only_their_characters() {
        assert!(icon("OfficeBuilding").is_ok());
        assert!(icon("mdi:account").is_ok());
        assert!(icon("<svg>").is_err());
        assert!(i18n_key("menu.users").is_ok());
        assert!(i18n_key("menu users").is_err());
        assert!(order(100_001).is_err());
        assert!(
            order(i32::MIN).is_err(),
            "no overflow at the bottom of the range"
        );
        assert!(order(i32::MAX).is_err());
        assert_eq!(order(-100_000), Ok(-100_000));
    }
}
