//! The checked fields of a menu entry, from a [`NewMenu`] or a [`MenuPatch`]: every
//! problem is reported at once.
use sea_orm::{ConnectionTrait, Set};

use validator::{Validate, ValidationError, ValidationErrors};

use crate::domain::{Name, Slug};
use crate::entity::menu::{self, PermissionMode};
use crate::error::{Problem, Result};
use crate::service::permissions::resolve_codenames;
use crate::validation::{field_errors, normalised};

use super::{MenuPatch, NewMenu};

/// Permissions that gate one entry: at most this many.
pub const MAX_MENU_PERMISSIONS: usize = 16;
/// `order` lies within ±this (the literal in the `range` rules of [`NewMenu`] and
/// [`MenuPatch`]).
pub const MAX_ORDER: i32 = 100_000;
// The `range` and `length` rules on `NewMenu` and `MenuPatch` spell these as literals
// (the derive takes no casts); a change to one side must change the other.
const _: () = assert!(MAX_MENU_PERMISSIONS == 16 && MAX_ORDER == 100_000);

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
        let checked = input.validate();
        let permissions = known(db, &input.permissions).await;
        let permissions = all_at_once(checked, permissions)?;
        Ok(Fields {
            name: Some(normalised("name", Slug::parse(&input.name))?.into_inner()),
            path: Some(blank_is_none(input.path.as_deref())),
            title: Some(normalised("title", Name::parse(&input.title, 100))?.into_inner()),
            i18n_key: Some(blank_is_none(input.i18n_key.as_deref())),
            icon: Some(blank_is_none(input.icon.as_deref())),
            order: Some(input.order.unwrap_or(0)),
            permissions: Some(permissions),
            mode: Some(input.permission_mode.unwrap_or_default()),
        })
    }

    /// The fields a patch changes.
    pub(super) async fn parse_patch<C: ConnectionTrait>(db: &C, patch: &MenuPatch) -> Result<Self> {
        let checked = patch.validate();
        let permissions = match &patch.permissions {
            Some(list) => known(db, list).await.map(Some),
            None => Ok(None),
        };
        let permissions = all_at_once(checked, permissions)?;
        Ok(Fields {
            name: (patch.name.as_deref())
                .map(|n| normalised("name", Slug::parse(n)).map(Slug::into_inner))
                .transpose()?,
            path: patch.path.as_deref().map(|p| blank_is_none(Some(p))),
            title: (patch.title.as_deref())
                .map(|t| normalised("title", Name::parse(t, 100)).map(Name::into_inner))
                .transpose()?,
            i18n_key: patch.i18n_key.as_deref().map(|k| blank_is_none(Some(k))),
            icon: patch.icon.as_deref().map(|i| blank_is_none(Some(i))),
            order: patch.order,
            permissions,
            mode: patch.permission_mode,
        })
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

/// The known permissions of `list`, sorted (unknown ones: a validation error naming them).
async fn known<C: ConnectionTrait>(db: &C, list: &[String]) -> Result<Vec<String>> {
    if list.len() > MAX_MENU_PERMISSIONS {
        // Reported by the rule on the field; nothing to look up.
        return Ok(Vec::new());
    }
    let found = resolve_codenames(db, "permissions", list).await?;
    let mut names: Vec<String> = found.into_iter().map(|p| p.codename).collect();
    names.sort_unstable();
    Ok(names)
}

/// The problems of the declared rules (`checked`) and of the permission lookup, reported
/// together; the looked-up permissions when there are none.
fn all_at_once<T>(
    checked: std::result::Result<(), ValidationErrors>,
    found: Result<T>,
) -> Result<T> {
    match (checked, found) {
        (Ok(()), found) => found,
        (Err(rules), Ok(_)) => Err(rules.into()),
        (Err(rules), Err(crate::Error::Validation(lookup))) => {
            let mut errors = field_errors(rules);
            errors.extend(lookup);
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(crate::Error::Validation(errors))
        }
        (Err(_), Err(e)) => Err(e),
    }
}

/// Trimmed, and blank as `None`.
fn blank_is_none(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Rule of `path` (blank: none): see [`route_path`].
pub(super) fn path_rule(v: &str) -> std::result::Result<(), ValidationError> {
    blank_or(v, route_path)
}

/// Rule of `i18n_key` (blank: none): see [`i18n_key`].
pub(super) fn i18n_key_rule(v: &str) -> std::result::Result<(), ValidationError> {
    blank_or(v, i18n_key)
}

/// Rule of `icon` (blank: none): see [`icon`].
pub(super) fn icon_rule(v: &str) -> std::result::Result<(), ValidationError> {
    blank_or(v, icon)
}

fn blank_or(
    v: &str,
    rule: fn(&str) -> std::result::Result<String, Problem>,
) -> std::result::Result<(), ValidationError> {
    match v.trim() {
        "" => Ok(()),
        v => rule(v).map(drop).map_err(ValidationError::from),
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
        assert!(icon_rule("  ").is_ok(), "blank clears");
        assert!(path_rule("//evil.example").is_err());
    }
}
