//! Sign-in with GitHub, end to end against a stub of github.com and api.github.com on a
//! free port: the authorization endpoint, the token endpoint (client credentials in the
//! form, errors answered with HTTP 200 as GitHub does), `/user` and `/user/emails`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use salvo::http::StatusCode;
use salvo::http::header;
use salvo::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{TestApp, spawn_app_with, test_redis_url};
use crate::oauth_browser::{
    FRONTEND, assert_failed, assert_signed_in, callback, form, links_of, me, redirect_back,
    serve_stub, sign_in, through_provider, user_with_email,
};

const CLIENT_ID: &str = "gh-client";
const CLIENT_SECRET: &str = "gh-client-secret";
const GITHUB: &str = "github";

/// A GitHub account and its addresses.
#[derive(Debug, Clone)]
struct Account {
    id: u64,
    login: String,
    /// (email, primary, verified)
    emails: Vec<(String, bool, bool)>,
}

impl Account {
    fn new() -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
        Self {
            id: u64::from_str_radix(&tag[..8], 16).unwrap(),
            login: format!("octo-{tag}"),
            emails: vec![
                (format!("{tag}@users.noreply.github.com"), false, true),
                (format!("gh{tag}@example.com"), true, true),
            ],
        }
    }

    fn primary(&self) -> String {
        self.emails.iter().find(|e| e.1).unwrap().0.clone()
    }
}

#[derive(Default)]
struct GhState {
    account: Mutex<Option<Account>>,
    codes: Mutex<HashMap<String, (String, Account)>>,
    tokens: Mutex<HashMap<String, Account>>,
    refusals: Mutex<Vec<String>>,
}

fn gh(depot: &Depot) -> Arc<GhState> {
    depot.get_typed::<Arc<GhState>>().expect("stub").clone()
}

#[handler]
async fn gh_authorize(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = gh(depot);
    let q = form(req.uri().query().unwrap_or_default());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || !get("scope").split(' ').any(|s| s == "user:email") {
        s.refusals.lock().unwrap().push("bad authorize".into());
        res.status_code(StatusCode::BAD_REQUEST);
        return;
    }
    let code = format!("gh-{}", uuid::Uuid::new_v4().simple());
    let account = s.account.lock().unwrap().clone().expect("an account");
    s.codes
        .lock()
        .unwrap()
        .insert(code.clone(), (get("code_challenge"), account));
    redirect_back(
        res,
        &get("redirect_uri"),
        &[("code", &code), ("state", &get("state"))],
    );
}

#[handler]
async fn gh_token(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = gh(depot);
    let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
    let f = form(std::str::from_utf8(&body).unwrap_or_default());
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        s.refusals
            .lock()
            .unwrap()
            .push("client credentials not in the form".into());
        res.render(Json(json!({ "error": "incorrect_client_credentials" })));
        return;
    }
    let grant = s.codes.lock().unwrap().remove(&get("code"));
    let verifier = get("code_verifier");
    match grant {
        Some((challenge, account))
            if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) == challenge =>
        {
            let token = format!("gho_{}", uuid::Uuid::new_v4().simple());
            s.tokens.lock().unwrap().insert(token.clone(), account);
            res.render(Json(
                json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }),
            ));
        }
        // GitHub answers a bad code with HTTP 200 and an error body.
        _ => res.render(Json(json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
        }))),
    }
}

fn account_of(s: &GhState, req: &Request) -> Option<Account> {
    let has_agent = req.headers().contains_key(header::USER_AGENT);
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let account = s.tokens.lock().unwrap().get(token).cloned();
    // GitHub refuses requests without a User-Agent.
    account.filter(|_| has_agent)
}

#[handler]
async fn gh_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = gh(depot);
    match account_of(&s, req) {
        Some(a) => res.render(Json(json!({
            "id": a.id, "login": a.login, "name": null, "email": "public-but-unverified@example.com",
        }))),
        None => {
            res.status_code(StatusCode::UNAUTHORIZED);
        }
    }
}

#[handler]
async fn gh_emails(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = gh(depot);
    match account_of(&s, req) {
        Some(a) => {
            let emails: Vec<Value> = a
                .emails
                .iter()
                .map(|(email, primary, verified)| {
                    json!({"email": email, "primary": primary, "verified": verified, "visibility": null})
                })
                .collect();
            res.render(Json(emails));
        }
        None => {
            res.status_code(StatusCode::UNAUTHORIZED);
        }
    }
}

async fn setup() -> (TestApp, Arc<GhState>) {
    let state = Arc::new(GhState::default());
    let router = Router::new()
        .hoop(affix_state::inject(state.clone()))
        .push(Router::with_path("login/oauth/authorize").get(gh_authorize))
        .push(Router::with_path("login/oauth/access_token").post(gh_token))
        .push(Router::with_path("api/user").get(gh_user))
        .push(Router::with_path("api/user/emails").get(gh_emails));
    let base = serve_stub(router).await;
    let mut vars: Vec<(String, String)> = vec![
        ("OAUTH_PROVIDERS".into(), GITHUB.into()),
        ("OAUTH_GITHUB_CLIENT_ID".into(), CLIENT_ID.into()),
        ("OAUTH_GITHUB_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        (
            "OAUTH_GITHUB_REDIRECT_URI".into(),
            "http://api.test/api/v1/auth/oauth/github/callback".into(),
        ),
        (
            "OAUTH_GITHUB_AUTH_URL".into(),
            format!("{base}/login/oauth/authorize"),
        ),
        (
            "OAUTH_GITHUB_TOKEN_URL".into(),
            format!("{base}/login/oauth/access_token"),
        ),
        ("OAUTH_GITHUB_API_URL".into(), format!("{base}/api")),
        ("FRONTEND_URL".into(), FRONTEND.into()),
    ];
    if let Some(url) = test_redis_url() {
        vars.push(("REDIS_URL".into(), url));
    }
    let all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (spawn_app_with(&all).await, state)
}

#[tokio::test]
async fn github_links_by_the_primary_verified_email_and_signs_in_by_numeric_id() {
    let (app, gh) = setup().await;
    let account = Account::new();
    let user_id = user_with_email(&app, &account.primary(), None).await;
    *gh.account.lock().unwrap() = Some(account.clone());
    let url = sign_in(&app, GITHUB, None).await;
    let f = assert_signed_in(&url, FRONTEND);
    assert_eq!(me(&app, &f["access_token"]).await["id"], user_id);
    let links = links_of(&app, user_id).await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].provider, GITHUB);
    assert_eq!(links[0].provider_user_id, account.id.to_string());
    assert_eq!(links[0].email.as_deref(), Some(account.primary().as_str()));
    // A renamed login still signs in through the id.
    let mut renamed = account.clone();
    renamed.login = "renamed".into();
    *gh.account.lock().unwrap() = Some(renamed);
    assert_signed_in(&sign_in(&app, GITHUB, None).await, FRONTEND);
    assert!(gh.refusals.lock().unwrap().is_empty());
}

#[tokio::test]
async fn github_with_an_unverified_primary_email_is_refused() {
    let (app, gh) = setup().await;
    let mut account = Account::new();
    let user_id = user_with_email(&app, &account.primary(), None).await;
    for e in &mut account.emails {
        e.2 = !e.1;
    }
    *gh.account.lock().unwrap() = Some(account);
    let url = sign_in(&app, GITHUB, None).await;
    assert_failed(&url, FRONTEND, "email_not_verified");
    assert!(links_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn a_code_github_refuses_with_http_200_is_exchange_failed() {
    let (app, gh) = setup().await;
    *gh.account.lock().unwrap() = Some(Account::new());
    let mut at = through_provider(&app, GITHUB, None).await;
    at.code = Some("gh-forged".into());
    let url = callback(&app, GITHUB, &at).await;
    assert_failed(&url, FRONTEND, "exchange_failed");
}
