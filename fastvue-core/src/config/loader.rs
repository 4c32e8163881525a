//! Reading variables: the lookup, every problem collected (never a secret value in a
//! message), and the parsers shared by the loaders.
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::{
    DEV_JWT_SECRET_KEY, DEV_SECRET_KEY, DOTENV_FILE, Environment, MIN_SECRET_BYTES, REDACTED,
    Secret,
};

/// One invalid or missing configuration variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable at fault (or `.env` for a problem with that file).
    pub variable: String,
    /// What is wrong, e.g. `expected an integer between 1 and 65535, got "abc"`.
    /// Never contains a secret value.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Configuration could not be loaded; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// All problems, in the order the variables were read. Never empty.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// The problem reported for `variable`, if any.
    pub fn problem(&self, variable: &str) -> Option<&ConfigProblem> {
        self.problems.iter().find(|p| p.variable == variable)
    }
}

impl fmt::Display for ConfigError {
    /// One line per problem, `VARIABLE: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The result of looking a variable up.
pub(super) enum Raw {
    Missing,
    Value(String),
    NotUnicode,
}

/// Reads variables through a lookup function and accumulates problems.
pub(super) struct Loader<F> {
    pub(super) lookup: F,
    pub(super) problems: Vec<ConfigProblem>,
}

impl<F: Fn(&str) -> Raw> Loader<F> {
    pub(super) fn problem(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    /// The untrimmed value; `None` when unset, blank or not valid UTF-8 (the
    /// latter is recorded as a problem).
    pub(super) fn raw(&mut self, var: &str) -> Option<String> {
        match (self.lookup)(var) {
            Raw::Missing => None,
            Raw::Value(value) if value.trim().is_empty() => None,
            Raw::Value(value) => Some(value),
            Raw::NotUnicode => {
                self.problem(var, "value is not valid UTF-8");
                None
            }
        }
    }

    /// The trimmed value, `None` when unset.
    pub(super) fn text(&mut self, var: &str) -> Option<String> {
        self.raw(var).map(|value| value.trim().to_owned())
    }

    pub(super) fn text_or(&mut self, var: &str, default: &str) -> String {
        self.text(var).unwrap_or_else(|| default.to_owned())
    }

    pub(super) fn secret(&mut self, var: &str) -> Option<Secret> {
        self.raw(var).map(Secret::new)
    }

    pub(super) fn flag(&mut self, var: &str, default: bool) -> bool {
        let value = self.text(var);
        self.flag_of(var, value, default)
    }

    /// `value`, read from `var`, as a boolean: `default` when absent, a problem naming
    /// `var` when it is not one.
    pub(super) fn flag_of(&mut self, var: &str, value: Option<String>, default: bool) -> bool {
        let Some(value) = value else {
            return default;
        };
        match parse_bool(&value) {
            Some(flag) => flag,
            None => {
                self.problem(
                    var,
                    format!("expected a boolean (true/false, 1/0, yes/no, on/off), got {value:?}"),
                );
                default
            }
        }
    }

    /// A number in `min..=max`: `Some(default)` when unset, `None` (and a
    /// problem) when invalid.
    pub(super) fn bounded<T>(
        &mut self,
        var: &str,
        default: T,
        min: T,
        max: T,
        what: &str,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(value) = self.text(var) else {
            return Some(default);
        };
        match value.parse::<T>() {
            Ok(number) if number >= min && number <= max => Some(number),
            _ => {
                self.problem(
                    var,
                    format!("expected {what} between {min} and {max}, got {value:?}"),
                );
                None
            }
        }
    }

    pub(super) fn integer<T>(&mut self, var: &str, default: T, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
    {
        self.bounded(var, default, min, max, "an integer")
            .unwrap_or(default)
    }

    /// Whole seconds in `min..=u32::MAX` (the cap keeps `Instant + timeout`
    /// arithmetic far from overflow).
    pub(super) fn seconds(&mut self, var: &str, default: u32, min: u32) -> Duration {
        let secs = self
            .bounded(var, default, min, u32::MAX, "a whole number of seconds")
            .unwrap_or(default);
        Duration::from_secs(u64::from(secs))
    }

    pub(super) fn choice<T: Copy>(&mut self, var: &str, default: T, options: &[(&str, T)]) -> T {
        let Some(value) = self.text(var) else {
            return default;
        };
        if let Some((_, choice)) = options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&value))
        {
            return *choice;
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        self.problem(
            var,
            format!("expected one of {}, got {value:?}", names.join(", ")),
        );
        default
    }

    pub(super) fn list(&mut self, var: &str) -> Vec<String> {
        self.text(var)
            .map(|value| split_list(&value))
            .unwrap_or_default()
    }

    /// `SECRET_KEY` / `JWT_SECRET_KEY`, with the environment-dependent rules.
    pub(super) fn signing_secret(
        &mut self,
        var: &'static str,
        dev_default: &'static str,
        environment: Environment,
        defaults_in_use: &mut Vec<&'static str>,
    ) -> Secret {
        let is_shipped = |value: &str| value == DEV_SECRET_KEY || value == DEV_JWT_SECRET_KEY;
        let Some(secret) = self.secret(var) else {
            if environment.is_production() {
                self.problem(
                    var,
                    format!(
                        "must be set in production (at least {MIN_SECRET_BYTES} random bytes, \
                         e.g. from `openssl rand -hex 32`)"
                    ),
                );
            } else {
                defaults_in_use.push(var);
            }
            return Secret::new(dev_default);
        };
        let shipped = is_shipped(secret.expose());
        if shipped && environment.is_production() {
            self.problem(
                var,
                "must not be a shipped development default in production",
            );
        } else if shipped {
            defaults_in_use.push(var);
        } else if environment != Environment::Development
            && secret.expose().len() < MIN_SECRET_BYTES
        {
            self.problem(
                var,
                format!("must be at least {MIN_SECRET_BYTES} bytes long in {environment}"),
            );
        }
        secret
    }
}

pub(super) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Splits a comma-separated list, trimming entries and dropping empty ones.
/// A JSON-style array (`["a", "b"]`, as written for the former pydantic
/// settings) is accepted too: the brackets and quotes around entries are
/// stripped.
pub(super) fn split_list(value: &str) -> Vec<String> {
    let value = value.trim();
    let inner = value
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(value);
    inner
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            entry
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .or_else(|| entry.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')))
                .unwrap_or(entry)
                .trim()
        })
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks an `http://` or `https://` URL. With `origin_only`, the URL must be
/// a bare origin (`scheme://host[:port]`, a single trailing `/` tolerated);
/// the normalised origin, without trailing slash, is returned. Otherwise the
/// trimmed URL is returned unchanged.
pub(super) fn check_http_url(url: &str, origin_only: bool) -> Result<String, &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("the scheme must be http:// or https://")?;
    if url.contains(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, remainder) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("user credentials are not allowed");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or("the IPv6 address is missing its closing bracket")?;
        if address.is_empty() {
            return Err("the host is missing");
        }
        match after.strip_prefix(':') {
            Some(port) => (address, Some(port)),
            None if after.is_empty() => (address, None),
            None => return Err("unexpected characters after the IPv6 address"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing");
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err("the port must be an integer between 1 and 65535");
    }
    if !origin_only {
        return Ok(url.to_owned());
    }
    if !remainder.is_empty() && remainder != "/" {
        return Err("an origin has no path, query or fragment");
    }
    Ok(url.strip_suffix('/').unwrap_or(url).to_owned())
}

pub(super) fn looks_like_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Describes a URL that may contain credentials by its scheme only.
pub(super) fn describe_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            format!("a URL with scheme {scheme:?} (rest not shown, it may contain a password)")
        }
        _ => "a value without a URL scheme (not shown, it may contain a password)".to_owned(),
    }
}

/// Masks the password in a URL's user-info part and in `password` query
/// parameters (e.g. `postgres://user:[redacted]@db/app`).
pub(super) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let path_and_query = match path_and_query.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query, None),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}={REDACTED}")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", params.join("&"))
        }
        None => path_and_query.to_owned(),
    };
    format!("{scheme}{authority}{path_and_query}")
}

/// Reads a `.env` file into a map (first definition wins). A missing file
/// yields an empty map.
pub(super) fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigProblem> {
    let file_problem = |message: String| ConfigProblem {
        variable: DOTENV_FILE.to_owned(),
        message,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(err) => {
            return Err(file_problem(format!(
                "could not read {}: {err}",
                path.display()
            )));
        }
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| file_problem(format!("{} is not valid UTF-8", path.display())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((key, value)) => {
                vars.entry(key).or_insert(value);
            }
            Err(dotenvy::Error::LineParse(line, _)) => {
                let location = text
                    .find(line.as_str())
                    .map(|offset| {
                        let number = text[..offset].matches('\n').count() + 1;
                        format!(" at line {number}")
                    })
                    .unwrap_or_default();
                return Err(file_problem(format!(
                    "malformed {}{location} (content not shown, it may contain secrets)",
                    path.display()
                )));
            }
            Err(dotenvy::Error::Io(err)) => {
                return Err(file_problem(format!(
                    "could not read {}: {err}",
                    path.display()
                )));
            }
            Err(_) => {
                return Err(file_problem(format!(
                    "could not expand a variable reference in {}",
                    path.display()
                )));
            }
        }
    }
    Ok(vars)
}
