//! The browser's side of a provider sign-in, for the tests of every provider: follow
//! `authorize` to the stub provider, take its redirect back, call the callback with the
//! state cookie, and read the result from the fragment. Also starts stub providers.
use std::collections::HashMap;

use fastvue_core::Actor;
use fastvue_core::entity::social_account;
use fastvue_core::service::users::NewUser;
use salvo::conn::{Acceptor, TcpListener};
use salvo::http::header;
use salvo::prelude::*;
use serde_json::Value;

use crate::helpers::TestApp;

/// The state cookie's name.
pub const COOKIE: &str = "fastvue_oauth_state";
/// `FRONTEND_URL` of the provider tests.
pub const FRONTEND: &str = "http://app.test/admin";

/// The account that "signs in" at a stub provider.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

impl Identity {
    /// A verified account with a unique sub and email.
    pub fn new() -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
        Self {
            sub: format!("10{tag}"),
            email: format!("g{tag}@example.com"),
            email_verified: true,
            name: format!("Google User {tag}"),
        }
    }
}

/// The provider's 302 back to `redirect_uri` with `pairs` in the query.
pub fn redirect_back(res: &mut Response, redirect_uri: &str, pairs: &[(&str, &str)]) {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    res.status_code(salvo::http::StatusCode::FOUND);
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("{redirect_uri}?{}", query.finish()))
            .expect("a header value"),
    );
}

/// Serves `router` on a free loopback port; returns its base URL.
pub async fn serve_stub(router: Router) -> String {
    let acceptor = TcpListener::new("127.0.0.1:0")
        .try_bind()
        .await
        .expect("the stub binds a free port");
    let port = acceptor
        .holdings()
        .first()
        .and_then(|h| h.local_addr.clone().into_std())
        .map(|a| a.port())
        .expect("the stub's port");
    tokio::spawn(Server::new(acceptor).serve(router));
    format!("http://127.0.0.1:{port}")
}

pub fn form(raw: &str) -> HashMap<String, String> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

pub fn location(res: &crate::helpers::Response) -> reqwest::Url {
    let raw = res.headers()[header::LOCATION.as_str()]
        .to_str()
        .expect("an ASCII Location");
    reqwest::Url::parse(raw).expect("an absolute Location")
}

pub fn query_of(url: &reqwest::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

pub fn fragment_of(url: &reqwest::Url) -> HashMap<String, String> {
    form(url.fragment().unwrap_or_default())
}

/// `GET /auth/oauth/{provider}/authorize`, redirects not followed.
pub async fn authorize(
    app: &TestApp,
    provider: &str,
    redirect_to: Option<&str>,
) -> crate::helpers::Response {
    let mut url = reqwest::Url::parse(&format!(
        "{}/api/v1/auth/oauth/{provider}/authorize",
        app.address
    ))
    .unwrap();
    if let Some(r) = redirect_to {
        url.query_pairs_mut().append_pair("redirect_to", r);
    }
    app.client_without_redirects()
        .get(url)
        .send()
        .await
        .expect("request sent")
}

/// A flow that went through the provider: what the browser holds at the callback.
#[derive(Debug, Clone)]
pub struct AtCallback {
    pub code: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub cookie: String,
}

/// `authorize` -> 302 to the stub -> 302 back with `code` (or `error`) and `state`.
pub async fn through_provider(
    app: &TestApp,
    provider: &str,
    redirect_to: Option<&str>,
) -> AtCallback {
    let res = authorize(app, provider, redirect_to).await;
    assert_eq!(res.status(), 302, "authorize: {:?}", res.text().await);
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{COOKIE}=")))
        .and_then(|v| v.split(';').next())
        .expect("the state cookie")
        .to_owned();
    let at_provider = location(&res);
    let back = app
        .client_without_redirects()
        .get(at_provider)
        .send()
        .await
        .expect("the stub answers");
    assert_eq!(
        back.status(),
        302,
        "the stub refused: {:?}",
        back.text().await
    );
    let back = location(&back);
    assert!(
        back.path()
            .ends_with(&format!("/api/v1/auth/oauth/{provider}/callback")),
        "{back}"
    );
    let q = query_of(&back);
    AtCallback {
        code: q.get("code").cloned(),
        state: q["state"].clone(),
        error: q.get("error").cloned(),
        cookie,
    }
}

/// Calls the server's callback as the browser would; returns the 302's Location.
pub async fn callback(app: &TestApp, provider: &str, at: &AtCallback) -> reqwest::Url {
    let res = callback_response(app, provider, at).await;
    assert_eq!(res.status(), 302, "callback: {:?}", res.text().await);
    assert_eq!(res.headers()["cache-control"], "no-store");
    location(&res)
}

/// `GET /auth/oauth/{provider}/callback` as the browser would send it.
pub async fn callback_response(
    app: &TestApp,
    provider: &str,
    at: &AtCallback,
) -> crate::helpers::Response {
    let mut url = reqwest::Url::parse(&format!(
        "{}/api/v1/auth/oauth/{provider}/callback",
        app.address
    ))
    .unwrap();
    {
        let mut q = url.query_pairs_mut();
        if let Some(code) = &at.code {
            q.append_pair("code", code);
        }
        if let Some(error) = &at.error {
            q.append_pair("error", error);
        }
        q.append_pair("state", &at.state);
    }
    app.client_without_redirects()
        .get(url)
        .header("cookie", format!("{COOKIE}={}", at.cookie))
        .send()
        .await
        .expect("request sent")
}

/// The whole flow for the stub's current identity; returns the final Location.
pub async fn sign_in(app: &TestApp, provider: &str, redirect_to: Option<&str>) -> reqwest::Url {
    let at = through_provider(app, provider, redirect_to).await;
    callback(app, provider, &at).await
}

/// Asserts that `url` is `target` plus a fragment (URL parsing adds the `/` of an origin).
pub fn assert_target(url: &reqwest::Url, target: &str) {
    let mut base = url.clone();
    base.set_fragment(None);
    assert_eq!(base, reqwest::Url::parse(target).unwrap(), "{url}");
    assert!(url.fragment().is_some_and(|f| !f.is_empty()), "{url}");
}

/// Asserts a failure redirect to `target` with `#error=code`.
pub fn assert_failed(url: &reqwest::Url, target: &str, code: &str) {
    assert_target(url, target);
    let f = fragment_of(url);
    assert_eq!(f.get("error").map(String::as_str), Some(code), "{url}");
    assert!(!f.contains_key("access_token"), "{url}");
}

/// Asserts a success redirect to `target` and returns the access token.
pub fn assert_signed_in(url: &reqwest::Url, target: &str) -> HashMap<String, String> {
    assert_target(url, target);
    let f = fragment_of(url);
    assert!(!f.contains_key("error"), "{url}");
    assert!(!f["access_token"].is_empty());
    assert!(!f["refresh_token"].is_empty());
    assert_eq!(f["token_type"], "bearer");
    assert_eq!(f["expires_in"], "1800");
    f
}

pub async fn me(app: &TestApp, token: &str) -> Value {
    let res = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub async fn user_with_email(app: &TestApp, email: &str, password: Option<&str>) -> i64 {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
    app.fastvue
        .users()
        .create(
            &Actor::system(),
            NewUser {
                email: email.to_owned(),
                username: format!("local-{tag}"),
                password: password.map(str::to_owned),
                ..Default::default()
            },
        )
        .await
        .expect("create user")
        .id
}

pub async fn links_of(app: &TestApp, user_id: i64) -> Vec<social_account::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    social_account::Entity::find()
        .filter(social_account::Column::UserId.eq(user_id))
        .order_by_asc(social_account::Column::Id)
        .all(app.fastvue.db())
        .await
        .unwrap()
}
