//! Sign-in provider settings: `OAUTH_PROVIDERS` names the enabled providers, each is
//! configured by `OAUTH_{NAME}_*` variables (`NAME` upper-cased, `-` as `_`), and the
//! provider named `google` also reads the older `GOOGLE_*` variables, so deployments
//! configured before providers existed keep working unchanged.
use std::time::Duration;

use super::{Environment, Loader, Raw, Secret, check_http_url, split_list};
use crate::domain::{CompanyCode, Slug};

/// Google's OAuth 2.0 authorization endpoint, the default of `OAUTH_GOOGLE_AUTH_URL`.
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint, the default of `OAUTH_GOOGLE_TOKEN_URL`.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's OpenID Connect userinfo endpoint, the default of `OAUTH_GOOGLE_USERINFO_URL`.
pub const GOOGLE_USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
/// GitHub's authorization endpoint, the default of `OAUTH_GITHUB_AUTH_URL`.
pub const GITHUB_AUTH_URL: &str = "https://github.com/login/oauth/authorize";
/// GitHub's token endpoint, the default of `OAUTH_GITHUB_TOKEN_URL`.
pub const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
/// GitHub's REST API, the default of `OAUTH_GITHUB_API_URL` (GitHub Enterprise Server:
/// `https://HOST/api/v3`).
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// How long a started sign-in may take: the default (and the bound) of
/// [`OAuthSettings::state_ttl`] (10 minutes).
pub const OAUTH_STATE_TTL: Duration = Duration::from_secs(600);
/// The default of [`OAuthSettings::jwks_min_refresh`].
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// Most providers `OAUTH_PROVIDERS` may name.
pub const MAX_PROVIDERS: usize = 16;

/// Longest provider name (it is part of variable names, routes and cookie paths).
const MAX_NAME_LEN: usize = 32;
/// Longest `_DISPLAY_NAME`.
const MAX_DISPLAY_NAME: usize = 64;
/// Most entries in `_SCOPES` and in `_ALLOWED_DOMAINS`.
const MAX_LIST: usize = 32;
/// The `GOOGLE_*` variables still read for the provider named `google`.
const GOOGLE_ALIAS_SUFFIXES: &[&str] = &[
    "CLIENT_ID",
    "CLIENT_SECRET",
    "REDIRECT_URI",
    "AUTH_URL",
    "TOKEN_URL",
    "USERINFO_URL",
    "AUTO_LINK",
    "ALLOW_SIGNUP",
];

/// The enabled sign-in providers.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// One entry per name in `OAUTH_PROVIDERS`, in that order (or `google` alone when
    /// `OAUTH_PROVIDERS` is unset and `GOOGLE_CLIENT_ID` is set). Empty: no provider
    /// sign-in.
    pub providers: Vec<ProviderSettings>,
    /// How long a started sign-in stays valid ([`OAUTH_STATE_TTL`], which is also its
    /// upper bound). Not read from the environment; tests and embedders may shorten it.
    pub state_ttl: Duration,
    /// The shortest interval between two fetches of an OpenID provider's keys caused by
    /// an ID token signed with a key id not yet known (key rotation). Default
    /// [`JWKS_MIN_REFRESH`]; not read from the environment.
    pub jwks_min_refresh: Duration,
}

impl OAuthSettings {
    /// The enabled provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderSettings> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// How fastvue talks to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Any OpenID Connect provider (Keycloak, Okta, Entra ID, Authentik, Zitadel, ...):
    /// endpoints from `{issuer}/.well-known/openid-configuration`, identity from the
    /// validated ID token (`OAUTH_{NAME}_TYPE=oidc`, the default for other names).
    Oidc {
        /// `OAUTH_{NAME}_ISSUER`, e.g. `https://sso.example.com/realms/staff`.
        issuer: String,
    },
    /// OAuth 2.0 with fixed endpoints and an OpenID userinfo endpoint: Google's classic
    /// flow (`OAUTH_{NAME}_TYPE=google`, the default for `google`).
    Userinfo {
        /// `OAUTH_{NAME}_AUTH_URL`.
        auth_url: String,
        /// `OAUTH_{NAME}_TOKEN_URL`.
        token_url: String,
        /// `OAUTH_{NAME}_USERINFO_URL`.
        userinfo_url: String,
    },
    /// GitHub's OAuth apps: identity from `/user`, the email from `/user/emails`
    /// (`OAUTH_{NAME}_TYPE=github`, the default for `github`).
    GitHub {
        /// `OAUTH_{NAME}_AUTH_URL`.
        auth_url: String,
        /// `OAUTH_{NAME}_TOKEN_URL`.
        token_url: String,
        /// `OAUTH_{NAME}_API_URL`.
        api_url: String,
    },
}

impl Protocol {
    /// The `OAUTH_{NAME}_TYPE` spelling: `oidc`, `google` or `github`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Oidc { .. } => "oidc",
            Self::Userinfo { .. } => "google",
            Self::GitHub { .. } => "github",
        }
    }

    /// The configured authorization and token endpoints; `None` for OpenID Connect,
    /// whose endpoints come from discovery.
    pub fn fixed_endpoints(&self) -> Option<(&str, &str)> {
        match self {
            Self::Oidc { .. } => None,
            Self::Userinfo {
                auth_url,
                token_url,
                ..
            }
            | Self::GitHub {
                auth_url,
                token_url,
                ..
            } => Some((auth_url, token_url)),
        }
    }
}

/// One sign-in provider.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The name in `OAUTH_PROVIDERS` (lower case): the route segment
    /// (`/auth/oauth/{name}/...`) and the `provider` of its links.
    pub name: String,
    /// `OAUTH_{NAME}_DISPLAY_NAME`, for a sign-in button (default: `Google`, `GitHub`,
    /// or the name).
    pub display_name: String,
    /// `OAUTH_{NAME}_TYPE` and the endpoints that go with it.
    pub protocol: Protocol,
    /// `OAUTH_{NAME}_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_{NAME}_CLIENT_SECRET`.
    pub client_secret: Secret,
    /// `OAUTH_{NAME}_REDIRECT_URI`: this server's `/api/v1/auth/oauth/{name}/callback` as
    /// the browser reaches it, registered at the provider.
    pub redirect_uri: String,
    /// `OAUTH_{NAME}_SCOPES` (space or comma separated; default `openid email profile`,
    /// for GitHub `read:user user:email`).
    pub scopes: Vec<String>,
    /// `OAUTH_{NAME}_AUTO_LINK` (default true): an account with a verified email is
    /// linked to the existing user with that email.
    pub auto_link: bool,
    /// `OAUTH_{NAME}_ALLOW_SIGNUP` (default false): an account matching no user creates
    /// one, in [`ProviderSettings::signup_company`] with [`ProviderSettings::signup_role`].
    pub allow_signup: bool,
    /// `OAUTH_{NAME}_DEFAULT_COMPANY`, else `DEFAULT_SIGNUP_COMPANY`: code of the company
    /// new users join (required with sign-up).
    pub signup_company: Option<String>,
    /// `OAUTH_{NAME}_DEFAULT_ROLE`, else `DEFAULT_SIGNUP_ROLE`: codename of the role new
    /// users get there (default `viewer`).
    pub signup_role: String,
    /// `OAUTH_{NAME}_ALLOWED_DOMAINS`: when set, only accounts whose verified email is in
    /// one of these domains (lower case) may sign in.
    pub allowed_domains: Vec<String>,
}

impl ProviderSettings {
    /// Whether `email`'s domain passes [`ProviderSettings::allowed_domains`].
    pub fn allows_email(&self, email: &str) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        self.allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// The variables of one provider: `OAUTH_{NAME}_{SUFFIX}`, falling back to
/// `GOOGLE_{SUFFIX}` for `google`.
struct Vars {
    prefix: String,
    alias: bool,
    /// Whether the provider was enabled by `GOOGLE_CLIENT_ID` alone: problems then name
    /// the `GOOGLE_*` variables the operator knows.
    legacy: bool,
}

impl Vars {
    /// The value `read` finds and the variable it came from, or the name to report as
    /// missing.
    fn find<F: Fn(&str) -> Raw, T>(
        &self,
        l: &mut Loader<F>,
        suffix: &str,
        read: impl Fn(&mut Loader<F>, &str) -> Option<T>,
    ) -> (String, Option<T>) {
        let own = format!("{}{suffix}", self.prefix);
        if let Some(v) = read(l, &own) {
            return (own, Some(v));
        }
        if self.alias {
            let alias = format!("GOOGLE_{suffix}");
            if let Some(v) = read(l, &alias) {
                return (alias, Some(v));
            }
            if self.legacy {
                return (alias, None);
            }
        }
        (own, None)
    }

    /// The trimmed value (see [`Vars::find`]).
    fn text<F: Fn(&str) -> Raw>(
        &self,
        l: &mut Loader<F>,
        suffix: &str,
    ) -> (String, Option<String>) {
        self.find(l, suffix, |l, var| l.text(var))
    }

    /// The secret value (see [`Vars::find`]).
    fn secret<F: Fn(&str) -> Raw>(
        &self,
        l: &mut Loader<F>,
        suffix: &str,
    ) -> (String, Option<Secret>) {
        self.find(l, suffix, |l, var| l.secret(var))
    }

    fn flag<F: Fn(&str) -> Raw>(&self, l: &mut Loader<F>, suffix: &str, default: bool) -> bool {
        let (var, value) = self.text(l, suffix);
        l.flag_of(&var, value, default)
    }

    /// An http(s) endpoint (https in production), `default` when unset.
    fn endpoint<F: Fn(&str) -> Raw>(
        &self,
        l: &mut Loader<F>,
        suffix: &str,
        default: Option<&str>,
        environment: Environment,
    ) -> String {
        let (var, value) = self.text(l, suffix);
        let Some(url) = value.or_else(|| default.map(str::to_owned)) else {
            l.problem(&var, "must be set");
            return String::new();
        };
        check_endpoint(l, &var, &url, environment);
        url
    }
}

/// Records a problem unless `url` is an http(s) URL, https in production.
fn check_endpoint<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    var: &str,
    url: &str,
    environment: Environment,
) {
    if let Err(reason) = check_http_url(url, false) {
        l.problem(
            var,
            format!("expected an http(s) URL, got {url:?} ({reason})"),
        );
    } else if environment.is_production() && !url.starts_with("https://") {
        l.problem(var, "must be an https:// URL in production");
    }
}

/// Whether `name` can name a provider: `a-z` first, then `a-z`, `0-9` or `-`.
fn is_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= MAX_NAME_LEN
        && name != "providers"
}

/// Whether `domain` looks like a DNS name (`example.com`).
fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Reads `OAUTH_PROVIDERS`, every listed provider's variables, the `GOOGLE_*` aliases
/// and `DEFAULT_SIGNUP_*`.
pub(super) fn load<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    environment: Environment,
    has_frontend_url: bool,
) -> OAuthSettings {
    let default_company = match l.text("DEFAULT_SIGNUP_COMPANY") {
        Some(raw) => match CompanyCode::parse(&raw) {
            Ok(code) => Some(code.into_inner()),
            Err(reason) => {
                l.problem(
                    "DEFAULT_SIGNUP_COMPANY",
                    format!("expected a company code, got {raw:?} ({reason})"),
                );
                None
            }
        },
        None => None,
    };
    let default_role = role(l, "DEFAULT_SIGNUP_ROLE", None);
    // Read every alias, so that `Settings::variables` lists them and a Google variable
    // set for a provider that is not enabled is reported.
    let google_client_id = l.text("GOOGLE_CLIENT_ID");
    for suffix in &GOOGLE_ALIAS_SUFFIXES[1..] {
        let _ = l.raw(&format!("GOOGLE_{suffix}"));
    }
    let listed = l.text("OAUTH_PROVIDERS");
    let legacy = listed.is_none();
    let names: Vec<String> = match &listed {
        Some(list) => split_list(list)
            .into_iter()
            .flat_map(|entry| {
                entry
                    .split_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .collect(),
        None if google_client_id.is_some() || l.text("OAUTH_GOOGLE_CLIENT_ID").is_some() => {
            vec!["google".to_owned()]
        }
        None => Vec::new(),
    };
    let mut providers: Vec<ProviderSettings> = Vec::new();
    if names.len() > MAX_PROVIDERS {
        l.problem(
            "OAUTH_PROVIDERS",
            format!("at most {MAX_PROVIDERS} providers, got {}", names.len()),
        );
        return settings(Vec::new());
    }
    for (index, name) in names.iter().enumerate() {
        if !is_provider_name(name) {
            l.problem(
                "OAUTH_PROVIDERS",
                format!(
                    "{name:?} is not a provider name (a-z first, then a-z, 0-9 or -, at most \
                     {MAX_NAME_LEN}; not \"providers\")"
                ),
            );
            continue;
        }
        if names[..index].contains(name) {
            l.problem("OAUTH_PROVIDERS", format!("{name:?} is listed twice"));
            continue;
        }
        if let Some(p) = provider(
            l,
            name,
            legacy,
            environment,
            default_company.as_deref(),
            &default_role,
        ) {
            providers.push(p);
        }
    }
    if listed.is_some() && google_client_id.is_some() && !names.iter().any(|n| n == "google") {
        l.problem(
            "GOOGLE_CLIENT_ID",
            "is set, but google is not in OAUTH_PROVIDERS: add it there or unset this",
        );
    }
    if !names.is_empty() && !has_frontend_url {
        let what = if legacy {
            "GOOGLE_CLIENT_ID is set"
        } else {
            "OAUTH_PROVIDERS is set"
        };
        l.problem(
            "FRONTEND_URL",
            format!("must be set when {what}: sign-in results are sent there"),
        );
    }
    settings(providers)
}

fn settings(providers: Vec<ProviderSettings>) -> OAuthSettings {
    OAuthSettings {
        providers,
        state_ttl: OAUTH_STATE_TTL,
        jwks_min_refresh: JWKS_MIN_REFRESH,
    }
}

/// A role codename from `var`, else `fallback`, else `viewer`.
fn role<F: Fn(&str) -> Raw>(l: &mut Loader<F>, var: &str, fallback: Option<&str>) -> String {
    let Some(raw) = l.text(var) else {
        return fallback.unwrap_or("viewer").to_owned();
    };
    match Slug::parse(&raw) {
        Ok(role) => role.into_inner(),
        Err(reason) => {
            l.problem(
                var,
                format!("expected a role codename, got {raw:?} ({reason})"),
            );
            raw
        }
    }
}

/// The settings of provider `name`, or `None` (with problems) when unusable.
fn provider<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    name: &str,
    legacy: bool,
    environment: Environment,
    default_company: Option<&str>,
    default_role: &str,
) -> Option<ProviderSettings> {
    let v = Vars {
        prefix: format!("OAUTH_{}_", name.to_ascii_uppercase().replace('-', "_")),
        alias: name == "google",
        legacy: legacy && name == "google",
    };
    let before = l.problems.len();
    let (type_var, kind) = v.text(l, "TYPE");
    let kind = kind.map(|k| k.to_ascii_lowercase()).unwrap_or_else(|| {
        match name {
            "google" => "google",
            "github" => "github",
            _ => "oidc",
        }
        .to_owned()
    });
    let protocol = match kind.as_str() {
        "oidc" => {
            let (var, issuer) = v.text(l, "ISSUER");
            match issuer {
                Some(issuer) => {
                    check_endpoint(l, &var, &issuer, environment);
                    Protocol::Oidc {
                        issuer: issuer.trim_end_matches('/').to_owned(),
                    }
                }
                None => {
                    l.problem(
                        &var,
                        format!(
                            "must be set for the OpenID Connect provider {name:?}: the issuer \
                             URL, e.g. https://sso.example.com/realms/staff"
                        ),
                    );
                    Protocol::Oidc {
                        issuer: String::new(),
                    }
                }
            }
        }
        "google" => Protocol::Userinfo {
            auth_url: v.endpoint(l, "AUTH_URL", Some(GOOGLE_AUTH_URL), environment),
            token_url: v.endpoint(l, "TOKEN_URL", Some(GOOGLE_TOKEN_URL), environment),
            userinfo_url: v.endpoint(l, "USERINFO_URL", Some(GOOGLE_USERINFO_URL), environment),
        },
        "github" => Protocol::GitHub {
            auth_url: v.endpoint(l, "AUTH_URL", Some(GITHUB_AUTH_URL), environment),
            token_url: v.endpoint(l, "TOKEN_URL", Some(GITHUB_TOKEN_URL), environment),
            api_url: v
                .endpoint(l, "API_URL", Some(GITHUB_API_URL), environment)
                .trim_end_matches('/')
                .to_owned(),
        },
        other => {
            l.problem(
                &type_var,
                format!("expected oidc, google or github, got {other:?}"),
            );
            return None;
        }
    };
    let (display_var, display) = v.text(l, "DISPLAY_NAME");
    let display_name = display.unwrap_or_else(|| {
        match name {
            "google" => "Google",
            "github" => "GitHub",
            _ => name,
        }
        .to_owned()
    });
    if display_name.chars().count() > MAX_DISPLAY_NAME || display_name.chars().any(char::is_control)
    {
        l.problem(
            &display_var,
            format!("expected at most {MAX_DISPLAY_NAME} printable characters"),
        );
    }
    let (id_var, client_id) = v.text(l, "CLIENT_ID");
    let (secret_var, client_secret) = v.secret(l, "CLIENT_SECRET");
    let (redirect_var, redirect_uri) = v.text(l, "REDIRECT_URI");
    let which = if v.legacy {
        "GOOGLE_CLIENT_ID is set".to_owned()
    } else {
        format!("{name} is in OAUTH_PROVIDERS")
    };
    if client_id.is_none() {
        l.problem(&id_var, format!("must be set when {which}"));
    }
    if client_secret.is_none() {
        l.problem(&secret_var, format!("must be set when {which}"));
    }
    match &redirect_uri {
        None => l.problem(
            &redirect_var,
            format!(
                "must be set when {which}, to {{public base URL}}/api/v1/auth/oauth/{name}/callback"
            ),
        ),
        Some(uri) => {
            if let Err(reason) = check_http_url(uri, false) {
                l.problem(
                    &redirect_var,
                    format!("expected an http(s) URL, got {uri:?} ({reason})"),
                );
            }
        }
    }
    let (scopes_var, scopes) = v.text(l, "SCOPES");
    let scopes: Vec<String> = match scopes {
        Some(raw) => split_list(&raw)
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        None => match protocol {
            Protocol::GitHub { .. } => vec!["read:user".into(), "user:email".into()],
            _ => vec!["openid".into(), "email".into(), "profile".into()],
        },
    };
    if scopes.len() > MAX_LIST
        || scopes.iter().any(|s| {
            !s.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        })
    {
        l.problem(
            &scopes_var,
            format!("expected at most {MAX_LIST} scopes of printable ASCII characters"),
        );
    }
    if matches!(protocol, Protocol::Oidc { .. }) && !scopes.iter().any(|s| s == "openid") {
        l.problem(
            &scopes_var,
            "must include openid for an OpenID Connect provider",
        );
    }
    let auto_link = v.flag(l, "AUTO_LINK", true);
    let allow_signup = v.flag(l, "ALLOW_SIGNUP", false);
    let (company_var, company) = v.text(l, "DEFAULT_COMPANY");
    let signup_company = match company {
        Some(raw) => match CompanyCode::parse(&raw) {
            Ok(code) => Some(code.into_inner()),
            Err(reason) => {
                l.problem(
                    &company_var,
                    format!("expected a company code, got {raw:?} ({reason})"),
                );
                None
            }
        },
        None => default_company.map(str::to_owned),
    };
    if allow_signup && signup_company.is_none() && l.problems.len() == before {
        let allow = if v.legacy {
            "GOOGLE_ALLOW_SIGNUP".to_owned()
        } else {
            format!("{}ALLOW_SIGNUP", v.prefix)
        };
        let var = if v.legacy {
            "DEFAULT_SIGNUP_COMPANY".to_owned()
        } else {
            company_var
        };
        l.problem(
            &var,
            format!(
                "must be set when {allow} is true (or DEFAULT_SIGNUP_COMPANY): the code of \
                 the company new users join"
            ),
        );
    }
    let signup_role = role(l, &format!("{}DEFAULT_ROLE", v.prefix), Some(default_role));
    let (domains_var, domains) = v.text(l, "ALLOWED_DOMAINS");
    let allowed_domains: Vec<String> = domains
        .map(|raw| split_list(&raw))
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
        .collect();
    if allowed_domains.len() > MAX_LIST || !allowed_domains.iter().all(|d| is_domain(d)) {
        l.problem(
            &domains_var,
            format!("expected at most {MAX_LIST} domain names such as example.com"),
        );
    }
    if l.problems.len() > before {
        return None;
    }
    Some(ProviderSettings {
        name: name.to_owned(),
        display_name,
        protocol,
        client_id: client_id.unwrap_or_default(),
        client_secret: client_secret.unwrap_or_else(|| Secret::new("")),
        redirect_uri: redirect_uri.unwrap_or_default(),
        scopes,
        auto_link,
        allow_signup,
        signup_company,
        signup_role,
        allowed_domains,
    })
}
