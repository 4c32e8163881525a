//! Checking a [`Document`] before anything is written: every record parsed, every problem
//! named (`users[3].email: ...`), at most [`MAX_REPORTED_PROBLEMS`] reported.
use std::collections::HashMap;

use crate::domain::{Codename, CompanyCode, Email, Name, Password, Slug, Username};
use crate::entity::grant_scope::GrantScope;
use crate::error::{Error, FieldError, Problem, Result};
use crate::validation::MAX_DESCRIPTION;

use super::{Document, MAX_REPORTED_PROBLEMS};

/// Collects problems with their record paths, at most [`MAX_REPORTED_PROBLEMS`].
#[derive(Debug, Default)]
pub(super) struct Problems {
    pub(super) list: Vec<FieldError>,
    pub(super) more: usize,
}

impl Problems {
    pub(super) fn add(&mut self, field: impl Into<String>, problem: impl Into<Problem>) {
        if self.list.len() < MAX_REPORTED_PROBLEMS {
            self.list.push(FieldError::new(field, problem));
        } else {
            self.more += 1;
        }
    }

    fn check<T, P: Into<Problem>>(
        &mut self,
        field: impl Into<String>,
        r: std::result::Result<T, P>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.add(field, m);
                None
            }
        }
    }

    pub(super) fn into_result(mut self) -> Result<()> {
        if self.list.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            self.list.push(FieldError::new(
                "document",
                format!("and {} more problems", self.more),
            ));
        }
        Err(Error::Validation(self.list))
    }
}

/// The document with every value parsed (what the write phase uses).
pub(super) struct Parsed {
    pub(super) companies: Vec<PCompany>,
    pub(super) users: Vec<PUser>,
    pub(super) permissions: Vec<PPermission>,
    pub(super) roles: Vec<PRole>,
    pub(super) groups: Vec<PGroup>,
    pub(super) assignments: Vec<PAssignment>,
    /// Checked field by field on load, by the menus service's own rules.
    pub(super) menus: Vec<super::MenuRecord>,
}

pub(super) struct PCompany {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) parent: Option<String>,
    pub(super) is_active: bool,
    pub(super) require_2fa: bool,
}

pub(super) struct PUser {
    pub(super) username: String,
    pub(super) email: String,
    pub(super) full_name: Option<String>,
    pub(super) is_active: bool,
    pub(super) is_superuser: bool,
    pub(super) current_company: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_hash: Option<String>,
}

pub(super) struct PPermission {
    pub(super) codename: Codename,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) category: Option<String>,
    pub(super) is_active: bool,
}

pub(super) struct PRole {
    pub(super) company: Option<String>,
    pub(super) codename: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) is_active: bool,
    pub(super) permissions: Vec<String>,
}

pub(super) struct PGroup {
    pub(super) company: String,
    pub(super) codename: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) is_active: bool,
    pub(super) permissions: Vec<String>,
    pub(super) members: Vec<String>,
    pub(super) subtree_members: Vec<String>,
}

pub(super) struct PAssignment {
    pub(super) user: String,
    pub(super) company: String,
    pub(super) role: String,
    pub(super) global_role: bool,
    pub(super) is_default: bool,
    pub(super) scope: GrantScope,
    pub(super) is_active: bool,
}

pub(super) fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A description ([`text`]), at most [`MAX_DESCRIPTION`] characters as through the API;
/// `None` (with the problem recorded) when longer.
fn checked_description(
    p: &mut Problems,
    field: String,
    v: &Option<String>,
) -> Option<Option<String>> {
    let value = text(v);
    let max = MAX_DESCRIPTION as usize;
    match &value {
        Some(t) if t.chars().count() > max => {
            p.add(field, Problem::at_most(max));
            None
        }
        _ => Some(value),
    }
}

/// Flags the second and later occurrences of a key.
pub(super) fn duplicates<K: std::hash::Hash + Eq>(
    p: &mut Problems,
    section: &str,
    field: &str,
    keys: impl Iterator<Item = Option<K>>,
) {
    let mut seen: HashMap<K, usize> = HashMap::new();
    for (i, key) in keys.enumerate() {
        let Some(key) = key else { continue };
        if let Some(first) = seen.get(&key) {
            p.add(
                format!("{section}[{i}].{field}"),
                format!("duplicate of {section}[{first}]"),
            );
        } else {
            seen.insert(key, i);
        }
    }
}

/// Parses every value of the document; reports every problem with its record path.
pub(super) fn parse(doc: &Document) -> Result<Parsed> {
    let mut p = Problems::default();
    let code = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, CompanyCode::parse(raw).map(CompanyCode::into_inner))
    };
    let slug = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, Slug::parse(raw).map(Slug::into_inner))
    };
    let username = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, Username::parse(raw).map(Username::into_inner))
    };
    let codenames = |p: &mut Problems, at: String, raw: &[String]| -> Vec<String> {
        raw.iter()
            .enumerate()
            .filter_map(|(k, c)| {
                p.check(
                    format!("{at}.permissions[{k}]"),
                    Codename::parse(c).map(|c| c.as_str().to_owned()),
                )
            })
            .collect()
    };

    let mut companies = Vec::new();
    for (i, r) in doc.companies.iter().enumerate() {
        let at = format!("companies[{i}]");
        let c = code(&mut p, format!("{at}.code"), &r.code);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 200));
        let parent = match &r.parent {
            Some(raw) => code(&mut p, format!("{at}.parent"), raw).map(Some),
            None => Some(None),
        };
        if let (Some(c), Some(Some(parent))) = (&c, &parent)
            && c == parent
        {
            p.add(format!("{at}.parent"), "a company cannot be its own parent");
        }
        if let (Some(code), Some(name), Some(parent)) = (c, name, parent) {
            companies.push(PCompany {
                code,
                name: name.into_inner(),
                parent,
                is_active: r.is_active,
                require_2fa: r.require_2fa,
            });
        }
    }
    duplicates(
        &mut p,
        "companies",
        "code",
        doc.companies
            .iter()
            .map(|r| CompanyCode::parse(&r.code).ok()),
    );

    let mut users = Vec::new();
    for (i, r) in doc.users.iter().enumerate() {
        let at = format!("users[{i}]");
        let name = username(&mut p, format!("{at}.username"), &r.username);
        let email = p.check(
            format!("{at}.email"),
            Email::parse(&r.email).map(Email::into_inner),
        );
        let full_name = match text(&r.full_name) {
            Some(n) => p
                .check(format!("{at}.full_name"), Name::parse(&n, 200))
                .map(|n| Some(n.into_inner())),
            None => Some(None),
        };
        let current = match &r.current_company {
            Some(raw) => code(&mut p, format!("{at}.current_company"), raw).map(Some),
            None => Some(None),
        };
        let password = match &r.password {
            Some(raw) => p
                .check(format!("{at}.password"), Password::parse(raw))
                .map(|pw| Some(pw.expose().to_owned())),
            None => Some(None),
        };
        let hash = match &r.password_hash {
            Some(h) if !h.starts_with("$argon2") => {
                p.add(
                    format!("{at}.password_hash"),
                    "must be an argon2 PHC string ($argon2id$...)",
                );
                None
            }
            other => Some(other.clone()),
        };
        if r.password.is_some() && r.password_hash.is_some() {
            p.add(
                format!("{at}.password"),
                "give password or password_hash, not both",
            );
        }
        if let (Some(username), Some(email), Some(full_name), Some(current), Some(pw), Some(h)) =
            (name, email, full_name, current, password, hash)
        {
            users.push(PUser {
                username,
                email,
                full_name,
                is_active: r.is_active,
                is_superuser: r.is_superuser,
                current_company: current,
                password: pw,
                password_hash: h,
            });
        }
    }
    duplicates(
        &mut p,
        "users",
        "username",
        doc.users
            .iter()
            .map(|r| Username::parse(&r.username).ok().map(Username::into_inner)),
    );
    duplicates(
        &mut p,
        "users",
        "email",
        doc.users
            .iter()
            .map(|r| Email::parse(&r.email).ok().map(Email::into_inner)),
    );

    let mut permissions = Vec::new();
    for (i, r) in doc.permissions.iter().enumerate() {
        let at = format!("permissions[{i}]");
        let codename = p.check(format!("{at}.codename"), Codename::parse(&r.codename));
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 200));
        let category = match text(&r.category) {
            Some(c) => p
                .check(format!("{at}.category"), Name::parse(&c, 50))
                .map(|c| Some(c.into_inner())),
            None => Some(None),
        };
        let description = checked_description(&mut p, format!("{at}.description"), &r.description);
        if let (Some(codename), Some(name), Some(category), Some(description)) =
            (codename, name, category, description)
        {
            permissions.push(PPermission {
                codename,
                name: name.into_inner(),
                description,
                category,
                is_active: r.is_active,
            });
        }
    }
    duplicates(
        &mut p,
        "permissions",
        "codename",
        doc.permissions.iter().map(|r| {
            Codename::parse(&r.codename)
                .ok()
                .map(|c| c.as_str().to_owned())
        }),
    );

    let mut roles = Vec::new();
    for (i, r) in doc.roles.iter().enumerate() {
        let at = format!("roles[{i}]");
        let company = match &r.company {
            Some(raw) => code(&mut p, format!("{at}.company"), raw).map(Some),
            None => Some(None),
        };
        let codename = slug(&mut p, format!("{at}.codename"), &r.codename);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 100));
        let description = checked_description(&mut p, format!("{at}.description"), &r.description);
        let perms = codenames(&mut p, at, &r.permissions);
        if let (Some(company), Some(codename), Some(name), Some(description)) =
            (company, codename, name, description)
        {
            roles.push(PRole {
                company,
                codename,
                name: name.into_inner(),
                description,
                is_active: r.is_active,
                permissions: perms,
            });
        }
    }
    duplicates(
        &mut p,
        "roles",
        "codename",
        doc.roles.iter().map(|r| {
            let company = match &r.company {
                Some(c) => Some(CompanyCode::parse(c).ok()?.into_inner()),
                None => None,
            };
            Some((company, Slug::parse(&r.codename).ok()?.into_inner()))
        }),
    );

    let mut groups = Vec::new();
    for (i, r) in doc.groups.iter().enumerate() {
        let at = format!("groups[{i}]");
        let company = code(&mut p, format!("{at}.company"), &r.company);
        let codename = slug(&mut p, format!("{at}.codename"), &r.codename);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 100));
        let perms = codenames(&mut p, at.clone(), &r.permissions);
        let members: Vec<String> = r
            .members
            .iter()
            .enumerate()
            .filter_map(|(k, m)| username(&mut p, format!("{at}.members[{k}]"), m))
            .collect();
        let subtree_members: Vec<String> = r
            .subtree_members
            .iter()
            .enumerate()
            .filter_map(|(k, m)| username(&mut p, format!("{at}.subtree_members[{k}]"), m))
            .collect();
        for (k, m) in subtree_members.iter().enumerate() {
            if members.contains(m) {
                p.add(
                    format!("{at}.subtree_members[{k}]"),
                    format!("{m:?} is also in members: list a user once"),
                );
            }
        }
        let description = checked_description(&mut p, format!("{at}.description"), &r.description);
        if let (Some(company), Some(codename), Some(name), Some(description)) =
            (company, codename, name, description)
        {
            groups.push(PGroup {
                company,
                codename,
                name: name.into_inner(),
                description,
                is_active: r.is_active,
                permissions: perms,
                members,
                subtree_members,
            });
        }
    }
    duplicates(
        &mut p,
        "groups",
        "codename",
        doc.groups.iter().map(|r| {
            Some((
                CompanyCode::parse(&r.company).ok()?.into_inner(),
                Slug::parse(&r.codename).ok()?.into_inner(),
            ))
        }),
    );

    let mut assignments = Vec::new();
    for (i, r) in doc.assignments.iter().enumerate() {
        let at = format!("assignments[{i}]");
        let user = username(&mut p, format!("{at}.user"), &r.user);
        let company = code(&mut p, format!("{at}.company"), &r.company);
        let role = slug(&mut p, format!("{at}.role"), &r.role);
        if let (Some(user), Some(company), Some(role)) = (user, company, role) {
            assignments.push(PAssignment {
                user,
                company,
                role,
                global_role: r.global_role,
                is_default: r.is_default,
                scope: r.scope,
                is_active: r.is_active,
            });
        }
    }
    duplicates(
        &mut p,
        "assignments",
        "role",
        doc.assignments.iter().map(|r| {
            Some((
                Username::parse(&r.user).ok()?.into_inner(),
                CompanyCode::parse(&r.company).ok()?.into_inner(),
                Slug::parse(&r.role).ok()?.into_inner(),
                r.global_role,
            ))
        }),
    );

    p.into_result()?;
    Ok(Parsed {
        companies,
        users,
        permissions,
        roles,
        groups,
        assignments,
        menus: doc.menus.clone(),
    })
}

/// Turns a write failure of record `at` into an error naming it.
pub(super) fn at_record(at: &str, err: Error) -> Error {
    match err {
        Error::Conflict {
            field: Some(f),
            message,
        } => Error::invalid(format!("{at}.{f}"), message),
        Error::Conflict {
            field: None,
            message,
        } => Error::invalid(at, message),
        other => other,
    }
}
