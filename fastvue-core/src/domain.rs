//! Domain newtypes that parse input once and cannot hold invalid values.
use std::fmt;

use crate::error::Problem;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The parsed value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The parsed value, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

string_newtype!(
    /// An email address, trimmed and lower-cased: `local@domain.tld`, at most 254 characters.
    Email
);
string_newtype!(
    /// A username: 3 to 100 letters, digits, `_`, `.` or `-`.
    Username
);
string_newtype!(
    /// A company code: 2 to 50 characters of letters, digits, `_` or `-`, stored upper-case.
    CompanyCode
);
string_newtype!(
    /// A role or group codename: 2 to 100 lower-case letters, digits, `_` or `-`.
    Slug
);
string_newtype!(
    /// A display name: trimmed, 1 to 200 characters, no control characters.
    Name
);

impl Email {
    /// Parses an email address.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let value = raw.trim().to_lowercase();
        let bad = || Problem::new("email", "must be an email address like name@example.com");
        if value.is_empty() {
            return Err(Problem::required());
        }
        if value.len() > 254 {
            return Err(Problem::new(
                "email",
                "must be an email address of at most 254 characters",
            )
            .with("max", 254));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(bad());
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2 && labels.iter().all(|l| label_ok(l));
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err(bad())
        }
    }
}

impl Username {
    /// Parses a username.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let value = raw.trim();
        let len = value.chars().count();
        if len == 0 {
            return Err(Problem::required());
        }
        if !(3..=100).contains(&len) {
            return Err(Problem::length(3, 100));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(Problem::characters(
                "letters, digits, '_', '.' and '-'",
                "a-zA-Z0-9_.-",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A valid username from an email's local part (`ann.lee+x@...` -> `ann.lee_x`):
    /// other characters become `_`, at most 90 characters; a part shorter than 3 is
    /// completed with `pad` (at least 3 valid characters).
    pub fn from_email(email: &str, pad: &str) -> Self {
        let local = email.split('@').next().unwrap_or_default();
        let mut name: String = local
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(90)
            .collect();
        if name.chars().count() < 3 {
            name.push_str(pad);
        }
        debug_assert!(Self::parse(&name).is_ok(), "{name}");
        Self(name)
    }
}

impl CompanyCode {
    /// Parses a company code.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let value = raw.trim();
        let len = value.chars().count();
        if len == 0 {
            return Err(Problem::required());
        }
        if !(2..=50).contains(&len) {
            return Err(Problem::length(2, 50));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(Problem::characters(
                "letters, digits, '_' and '-'",
                "a-zA-Z0-9_-",
            ));
        }
        Ok(Self(value.to_ascii_uppercase()))
    }
}

impl Slug {
    /// Parses a role or group codename.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let value = raw.trim();
        let len = value.chars().count();
        if len == 0 {
            return Err(Problem::required());
        }
        if !(2..=100).contains(&len) {
            return Err(Problem::length(2, 100));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        {
            return Err(Problem::characters(
                "lower-case letters, digits, '_' and '-'",
                "a-z0-9_-",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

impl Name {
    /// Parses a display name of at most `max` characters.
    pub fn parse(raw: &str, max: usize) -> Result<Self, Problem> {
        let value = raw.trim();
        let len = value.chars().count();
        if len == 0 {
            return Err(Problem::required());
        }
        if len > max {
            return Err(Problem::length(1, max));
        }
        if value.chars().any(char::is_control) {
            return Err(Problem::new(
                "control_characters",
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// A permission codename `resource.action`: two parts of 1 to 50 lower-case letters,
/// digits or `_`, joined by one dot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Codename {
    value: String,
    dot: usize,
}

impl Codename {
    /// Parses a codename.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let value = raw.trim();
        let part_ok = |p: &str| {
            (1..=50).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match value.split_once('.') {
            Some((resource, action)) if part_ok(resource) && part_ok(action) => Ok(Self {
                value: value.to_owned(),
                dot: resource.len(),
            }),
            _ => Err(Problem::format(
                "must look like resource.action (lower-case letters, digits, '_')",
                "resource.action",
            )),
        }
    }

    /// The whole codename.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The part before the dot.
    pub fn resource(&self) -> &str {
        &self.value[..self.dot]
    }

    /// The part after the dot.
    pub fn action(&self) -> &str {
        &self.value[self.dot + 1..]
    }
}

impl fmt::Display for Codename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Codename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

/// A plaintext password of 8 to 128 characters. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Parses a new password.
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let len = raw.chars().count();
        if len == 0 {
            return Err(Problem::required());
        }
        if !(8..=128).contains(&len) {
            return Err(Problem::length(8, 128));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plaintext, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@-b.c", "a..b@c.d", "a@b..c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn username_enforces_length_and_charset() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(101)).is_err());
        assert!(Username::parse("john doe").is_err());
        assert!(Username::parse("john'; drop").is_err());
        assert_eq!(
            Username::parse("john.doe-1_x").unwrap().as_str(),
            "john.doe-1_x"
        );
    }

    #[test]
    fn codename_splits_resource_and_action() {
        let c = Codename::parse("user.read").unwrap();
        assert_eq!((c.resource(), c.action()), ("user", "read"));
        for bad in [
            "user",
            "user.",
            ".read",
            "User.read",
            "a.b.c",
            "user.re ad",
            "",
        ] {
            assert!(Codename::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn company_code_is_uppercased() {
        assert_eq!(
            CompanyCode::parse("acme-east").unwrap().as_str(),
            "ACME-EAST"
        );
        assert!(CompanyCode::parse("a").is_err());
        assert!(CompanyCode::parse("a b").is_err());
    }

    #[test]
    fn password_length_bounds_and_redacted_debug() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
