//! GitHub (OAuth 2.0, not OpenID Connect): the account from `GET /user`, its email
//! from `GET /user/emails`, where only the **primary** address that GitHub has
//! **verified** counts (the public `email` of `/user` is neither necessarily verified nor
//! present).
use oauth2::reqwest;
use serde::Deserialize;

use super::http::get_json;
use super::profile::Profile;

const ACCEPT: &str = "application/vnd.github+json";
/// Most addresses read from `/user/emails` (GitHub allows far fewer).
const MAX_EMAILS: usize = 100;

#[derive(Debug, Deserialize)]
struct User {
    id: u64,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// The profile of the account an access token belongs to: `sub` is GitHub's numeric user
/// id (logins can be renamed), the email the primary one when verified.
pub(crate) async fn profile(
    http: &reqwest::Client,
    api_url: &str,
    access_token: &str,
) -> Result<Profile, String> {
    let user: User = get_json(
        http,
        &format!("{api_url}/user"),
        Some(access_token),
        ACCEPT,
        "GitHub /user",
    )
    .await?;
    let emails: Vec<UserEmail> = get_json(
        http,
        &format!("{api_url}/user/emails"),
        Some(access_token),
        ACCEPT,
        "GitHub /user/emails",
    )
    .await?;
    Ok(choose(user, emails))
}

fn choose(user: User, emails: Vec<UserEmail>) -> Profile {
    let primary = emails
        .into_iter()
        .take(MAX_EMAILS)
        .find(|e| e.primary && e.verified);
    Profile {
        sub: user.id.to_string(),
        email_verified: primary.is_some(),
        email: primary.map(|e| e.email),
        name: user.name.filter(|n| !n.trim().is_empty()).or(user.login),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(user: &str, emails: &str) -> Profile {
        choose(
            serde_json::from_str(user).unwrap(),
            serde_json::from_str(emails).unwrap(),
        )
    }

    #[test]
    fn only_the_primary_verified_address_counts() {
        let p = parse(
            r#"{"id":42,"login":"octo","name":null,"email":"public@x.io"}"#,
            r#"[{"email":"other@x.io","primary":false,"verified":true},
                {"email":"main@x.io","primary":true,"verified":true,"visibility":"private"}]"#,
        );
        assert_eq!(p.sub, "42");
        assert_eq!(p.email.as_deref(), Some("main@x.io"));
        assert!(p.email_verified);
        assert_eq!(p.name.as_deref(), Some("octo"));
        let p = parse(
            r#"{"id":7,"login":"x","name":"Ann"}"#,
            r#"[{"email":"main@x.io","primary":true,"verified":false},
                {"email":"other@x.io","primary":false,"verified":true}]"#,
        );
        assert!(!p.email_verified);
        assert_eq!(p.email, None);
        assert_eq!(p.name.as_deref(), Some("Ann"));
    }
}
