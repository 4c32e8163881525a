//! Google sign-in end to end against a loopback identity provider: a small salvo server
//! on a free port with `authorize`, `token` and `userinfo` endpoints that checks the
//! client credentials, the redirect URI and the PKCE verifier against the challenge.
//! Each test follows the server's 302 to the stub, takes the code from the stub's 302,
//! and calls the server's callback the way the browser would (with the state cookie).
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fastvue_core::Actor;
use fastvue_core::entity::{oauth_state, social_account};
use fastvue_core::pagination::PageRequest;
use fastvue_core::service::audit::AuditFilter;
use salvo::http::StatusCode;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{
    ROOT_LOGIN, TestApp, spawn_app, spawn_app_with, spawn_app_with_settings, test_redis_url,
};
use crate::oauth_browser::{
    self as browser, AtCallback, COOKIE, FRONTEND, Identity, assert_failed, assert_signed_in,
    assert_target, form, fragment_of, links_of, location, me, query_of, serve_stub,
    user_with_email,
};

const CLIENT_ID: &str = "stub-client-id";
const CLIENT_SECRET: &str = "stub-client-secret";
const REDIRECT_URI: &str = "http://api.test/api/v1/auth/oauth/google/callback";
const GOOGLE: &str = "google";
const SPA_ORIGIN: &str = "http://localhost:5173";

// ------------------------------------------------------------ the stub --

#[derive(Debug)]
struct Grant {
    challenge: String,
    redirect_uri: String,
    identity: Identity,
}

#[derive(Debug, Default)]
struct IdpState {
    identity: Mutex<Option<Identity>>,
    deny: AtomicBool,
    token_fails: AtomicBool,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Identity>>,
    /// Why the stub refused a request (checked by the tests).
    refusals: Mutex<Vec<String>>,
}

impl IdpState {
    fn refuse(&self, why: impl Into<String>) {
        self.refusals.lock().unwrap().push(why.into());
    }
}

/// A running stub identity provider.
struct Idp {
    base: String,
    state: Arc<IdpState>,
}

impl Idp {
    async fn start() -> Self {
        let state = Arc::new(IdpState::default());
        let router = Router::new()
            .hoop(affix_state::inject(state.clone()))
            .push(Router::with_path("authorize").get(idp_authorize))
            .push(Router::with_path("token").post(idp_token))
            .push(Router::with_path("userinfo").get(idp_userinfo));
        Self {
            base: serve_stub(router).await,
            state,
        }
    }

    /// The account signing in from now on.
    fn sign_in_as(&self, identity: &Identity) {
        *self.state.identity.lock().unwrap() = Some(identity.clone());
    }

    fn refusals(&self) -> Vec<String> {
        self.state.refusals.lock().unwrap().clone()
    }
}

fn stub(depot: &Depot) -> Arc<IdpState> {
    depot
        .get_typed::<Arc<IdpState>>()
        .expect("stub state")
        .clone()
}

fn found(res: &mut Response, location: &str) {
    res.status_code(StatusCode::FOUND);
    res.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(location).expect("a header value"),
    );
}

/// What Google checks on an authorization request (RFC 6749 4.1.1, RFC 7636 4.3).
fn authorize_problem(q: &HashMap<String, String>) -> Option<String> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return Some("unknown client_id".into());
    }
    if get("response_type") != "code" {
        return Some("response_type is not code".into());
    }
    if get("redirect_uri") != REDIRECT_URI {
        return Some("redirect_uri is not registered".into());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        return Some("no S256 code challenge".into());
    }
    if get("state").is_empty() {
        return Some("no state".into());
    }
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    if !["openid", "email", "profile"]
        .iter()
        .all(|s| scopes.contains(s))
    {
        return Some("missing scopes".into());
    }
    None
}

#[handler]
async fn idp_authorize(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = stub(depot);
    let q = form(req.uri().query().unwrap_or_default());
    if let Some(problem) = authorize_problem(&q) {
        s.refuse(problem.clone());
        res.status_code(StatusCode::BAD_REQUEST);
        res.render(Text::Plain(problem));
        return;
    }
    let mut back = form_urlencoded::Serializer::new(String::new());
    if s.deny.load(Ordering::SeqCst) {
        back.append_pair("error", "access_denied");
    } else {
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        let identity = s
            .identity
            .lock()
            .unwrap()
            .clone()
            .expect("the test chose who signs in");
        s.codes.lock().unwrap().insert(
            code.clone(),
            Grant {
                challenge: q["code_challenge"].clone(),
                redirect_uri: q["redirect_uri"].clone(),
                identity,
            },
        );
        back.append_pair("code", &code);
        back.append_pair("scope", "openid email profile");
    }
    back.append_pair("state", &q["state"]);
    found(res, &format!("{}?{}", q["redirect_uri"], back.finish()));
}

/// The token endpoint's checks: client authentication (HTTP Basic, as the oauth2 crate
/// sends it), a known single-use code, the same redirect URI, and the PKCE verifier.
fn exchange(
    s: &IdpState,
    auth: Option<&str>,
    f: &HashMap<String, String>,
) -> Result<Identity, String> {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if auth != Some(expected.as_str()) {
        return Err("bad client credentials".into());
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err("grant_type is not authorization_code".into());
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let grant = s
        .codes
        .lock()
        .unwrap()
        .remove(&code)
        .ok_or("unknown or used code")?;
    if f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err("redirect_uri differs from the authorization request".into());
    }
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return Err("PKCE verifier does not match the challenge".into());
    }
    Ok(grant.identity)
}

#[handler]
async fn idp_token(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = stub(depot);
    if s.token_fails.load(Ordering::SeqCst) {
        s.refuse("token endpoint down");
        res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        res.render(Json(json!({ "error": "temporarily_unavailable" })));
        return;
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
    let f = form(std::str::from_utf8(&body).unwrap_or_default());
    match exchange(&s, auth.as_deref(), &f) {
        Ok(identity) => {
            let token = format!("at-{}", uuid::Uuid::new_v4().simple());
            s.tokens.lock().unwrap().insert(token.clone(), identity);
            res.render(Json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email profile",
                "id_token": "not.used.here",
            })));
        }
        Err(why) => {
            s.refuse(why);
            res.status_code(StatusCode::BAD_REQUEST);
            res.render(Json(json!({ "error": "invalid_grant" })));
        }
    }
}

#[handler]
async fn idp_userinfo(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = stub(depot);
    let identity = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| s.tokens.lock().unwrap().get(t).cloned());
    match identity {
        Some(i) => res.render(Json(json!({
            "sub": i.sub,
            "email": i.email,
            "email_verified": i.email_verified,
            "name": i.name,
            "picture": "https://example.com/p.png",
        }))),
        None => {
            s.refuse("userinfo without a valid token");
            res.status_code(StatusCode::UNAUTHORIZED);
        }
    }
}

// ------------------------------------------------------------- harness --

/// The variables pointing the server at the stub (and Redis when the run has one).
fn google_vars(idp: &Idp) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("GOOGLE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("GOOGLE_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("GOOGLE_AUTH_URL", format!("{}/authorize", idp.base)),
        ("GOOGLE_TOKEN_URL", format!("{}/token", idp.base)),
        ("GOOGLE_USERINFO_URL", format!("{}/userinfo", idp.base)),
        ("FRONTEND_URL", FRONTEND.to_owned()),
        ("BACKEND_CORS_ORIGINS", SPA_ORIGIN.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(url) = test_redis_url() {
        vars.push(("REDIS_URL".into(), url));
    }
    vars
}

/// A server using a fresh stub; `extra` variables on top.
async fn setup(extra: &[(&str, &str)]) -> (TestApp, Idp) {
    let idp = Idp::start().await;
    let vars = google_vars(&idp);
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    (spawn_app_with(&all).await, idp)
}

async fn authorize(app: &TestApp, redirect_to: Option<&str>) -> crate::helpers::Response {
    browser::authorize(app, GOOGLE, redirect_to).await
}

async fn through_provider(app: &TestApp, redirect_to: Option<&str>) -> AtCallback {
    browser::through_provider(app, GOOGLE, redirect_to).await
}

async fn callback(app: &TestApp, at: &AtCallback) -> reqwest::Url {
    browser::callback(app, GOOGLE, at).await
}

async fn sign_in(app: &TestApp, redirect_to: Option<&str>) -> reqwest::Url {
    browser::sign_in(app, GOOGLE, redirect_to).await
}

async fn audit_actions(app: &TestApp, entity_type: &str) -> Vec<String> {
    app.fastvue
        .audit_logs()
        .list(
            &Actor::system(),
            &AuditFilter {
                entity_type: Some(entity_type.to_owned()),
                ..Default::default()
            },
            PageRequest::new(Some(1), Some(100)).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.action)
        .collect()
}

// --------------------------------------------------------------- tests --

#[tokio::test]
async fn authorize_redirects_to_the_provider_with_state_pkce_and_a_state_cookie() {
    let (app, idp) = setup(&[]).await;
    let res = authorize(&app, None).await;
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(
        to.as_str().starts_with(&format!("{}/authorize?", idp.base)),
        "{to}"
    );
    let q = query_of(&to);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43);
    assert!(!to.as_str().contains(CLIENT_SECRET));
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("{COOKIE}={};", q["state"])),
        "{cookie}"
    );
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/v1/auth/oauth/google",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The state is kept where the configuration says: Redis when there is one.
    let rows = oauth_state::Entity::find()
        .count(app.fastvue.db())
        .await
        .unwrap();
    assert_eq!(rows, if test_redis_url().is_some() { 0 } else { 1 });
}

#[tokio::test]
async fn first_sign_in_links_the_google_account_to_the_user_with_that_verified_email() {
    let (app, idp) = setup(&[]).await;
    let mut google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    // Emails match case-insensitively.
    google.email = google.email.to_uppercase();
    idp.sign_in_as(&google);
    let url = sign_in(&app, None).await;
    let tokens = assert_signed_in(&url, FRONTEND);
    let body = me(&app, &tokens["access_token"]).await;
    assert_eq!(body["id"], user_id);
    assert!(body["last_login_at"].is_string(), "{body}");
    let links = links_of(&app, user_id).await;
    assert_eq!(links.len(), 1);
    assert_eq!(
        (
            links[0].provider.as_str(),
            links[0].provider_user_id.as_str()
        ),
        ("google", google.sub.as_str())
    );
    assert_eq!(
        links[0].email.as_deref(),
        Some(google.email.to_lowercase().as_str())
    );
    assert_eq!(audit_actions(&app, "social_account").await, ["link"]);
    // The refresh token of the fragment is a normal session.
    let res = app
        .client
        .post(format!("{}/api/v1/auth/refresh", app.address))
        .json(&json!({ "refresh_token": tokens["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_linked_google_account_signs_in_its_user_even_after_its_email_changed() {
    let (app, idp) = setup(&[]).await;
    let mut google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    // The link, not the email, identifies the account now.
    google.email = format!("renamed-{}", google.email);
    idp.sign_in_as(&google);
    let tokens = assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    assert_eq!(me(&app, &tokens["access_token"]).await["id"], user_id);
    assert_eq!(links_of(&app, user_id).await.len(), 1);
    assert_eq!(audit_actions(&app, "social_account").await, ["link"]);
}

#[tokio::test]
async fn google_sign_in_of_an_account_with_two_factor_redirects_with_the_pending_step_not_tokens() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    let token = app.login(&google.email, "local-pass-123").await;
    let (secret, _) = crate::two_factor::enrol(&app, &token).await;
    idp.sign_in_as(&google);
    let url = sign_in(&app, None).await;
    assert_target(&url, FRONTEND);
    let f = fragment_of(&url);
    assert!(!f.contains_key("access_token"), "{url}");
    assert!(!f.contains_key("refresh_token"), "{url}");
    assert_eq!(f["mfa_required"], "true");
    assert_eq!(f["enrol_required"], "false");
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login/2fa", app.address))
        .json(&json!({ "mfa_token": f["mfa_token"], "code": crate::two_factor::code(&secret, 1) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["id"], user_id);
    assert_eq!(
        me(&app, body["access_token"].as_str().unwrap()).await["id"],
        user_id
    );
}

#[tokio::test]
async fn with_auto_link_off_an_unlinked_account_with_a_known_email_is_refused() {
    let (app, idp) = setup(&[("GOOGLE_AUTO_LINK", "false")]).await;
    let google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "account_not_linked");
    assert!(links_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn signup_creates_a_linked_user_with_the_signup_role_in_the_signup_company() {
    let (app, idp) = setup(&[
        ("GOOGLE_ALLOW_SIGNUP", "true"),
        ("DEFAULT_SIGNUP_COMPANY", "default"),
    ])
    .await;
    let google = Identity::new();
    idp.sign_in_as(&google);
    let tokens = assert_signed_in(&sign_in(&app, Some(SPA_ORIGIN)).await, SPA_ORIGIN);
    let body = me(&app, &tokens["access_token"]).await;
    assert_eq!(body["email"], google.email);
    assert_eq!(body["full_name"], google.name);
    let user_id = body["id"].as_i64().unwrap();
    let user = app
        .fastvue
        .users()
        .get(&Actor::system(), user_id)
        .await
        .unwrap();
    assert!(user.password_hash.is_none());
    let root_company = app
        .fastvue
        .users()
        .find_by_login(ROOT_LOGIN)
        .await
        .unwrap()
        .and_then(|u| u.current_company_id)
        .unwrap();
    assert_eq!(user.current_company_id, Some(root_company));
    let roles = crate::helpers::assignments_of(&app.fastvue, user_id, None).await;
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].role_codename, "viewer");
    assert_eq!(roles[0].assignment.company_id, root_company);
    assert_eq!(body["companies"][0]["roles"], json!(["viewer"]));
    assert_eq!(links_of(&app, user_id).await.len(), 1);
    assert!(
        audit_actions(&app, "user")
            .await
            .contains(&"signup".to_owned())
    );
    assert_eq!(audit_actions(&app, "social_account").await, ["link"]);
    // Signing in again uses the link and creates nothing.
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    let users = app
        .fastvue
        .users()
        .find_by_login(&google.email)
        .await
        .unwrap();
    assert_eq!(users.map(|u| u.id), Some(user_id));
}

#[tokio::test]
async fn with_signup_disabled_an_unknown_account_is_refused_and_nothing_is_created() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    idp.sign_in_as(&google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "signup_disabled");
    assert!(
        app.fastvue
            .users()
            .find_by_login(&google.email)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        social_account::Entity::find()
            .count(app.fastvue.db())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_state_started_by_another_browser_is_refused() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let victim = through_provider(&app, None).await;
    let attacker = through_provider(&app, None).await;
    // The attacker's code and state, in the victim's browser (login CSRF).
    let forged = AtCallback {
        cookie: victim.cookie.clone(),
        ..attacker.clone()
    };
    assert_failed(&callback(&app, &forged).await, FRONTEND, "invalid_state");
    // No cookie at all is the same.
    let res = app
        .client_without_redirects()
        .get(format!(
            "{}/api/v1/auth/oauth/google/callback?code=x&state={}",
            app.address, attacker.state
        ))
        .send()
        .await
        .unwrap();
    assert_failed(&location(&res), FRONTEND, "invalid_state");
    // The victim's own flow is untouched.
    assert_signed_in(&callback(&app, &victim).await, FRONTEND);
}

#[tokio::test]
async fn an_unknown_state_is_refused() {
    let (app, _idp) = setup(&[]).await;
    let made_up = AtCallback {
        code: Some("code-x".into()),
        state: "A".repeat(43),
        error: None,
        cookie: "A".repeat(43),
    };
    assert_failed(&callback(&app, &made_up).await, FRONTEND, "invalid_state");
    let malformed = AtCallback {
        state: "not a state!".into(),
        cookie: "not a state!".into(),
        ..made_up
    };
    assert_failed(&callback(&app, &malformed).await, FRONTEND, "invalid_state");
}

#[tokio::test]
async fn a_callback_without_code_or_state_is_an_invalid_request() {
    let (app, _idp) = setup(&[]).await;
    let res = app
        .client_without_redirects()
        .get(format!("{}/api/v1/auth/oauth/google/callback", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_failed(&location(&res), FRONTEND, "invalid_request");
    // A real state without a code: the state is used up, the target is the stored one.
    let (app, idp) = setup(&[]).await;
    idp.sign_in_as(&Identity::new());
    let at = through_provider(&app, Some(SPA_ORIGIN)).await;
    let no_code = AtCallback { code: None, ..at };
    assert_failed(
        &callback(&app, &no_code).await,
        SPA_ORIGIN,
        "invalid_request",
    );
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let at = through_provider(&app, None).await;
    assert_signed_in(&callback(&app, &at).await, FRONTEND);
    assert_failed(&callback(&app, &at).await, FRONTEND, "invalid_state");
    assert!(idp.refusals().is_empty(), "{:?}", idp.refusals());
}

#[tokio::test]
async fn concurrent_callbacks_with_one_state_sign_in_at_most_once() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let at = through_provider(&app, None).await;
    let results = callbacks_at_once(&app, &at, 4).await;
    let signed_in = results
        .iter()
        .filter(|u| fragment_of(u).contains_key("access_token"))
        .count();
    assert_eq!(signed_in, 1, "{results:?}");
    for u in results
        .iter()
        .filter(|u| !fragment_of(u).contains_key("access_token"))
    {
        assert_failed(u, FRONTEND, "invalid_state");
    }
}

/// `n` callbacks with the same state at once.
async fn callbacks_at_once(app: &TestApp, at: &AtCallback, n: usize) -> Vec<reqwest::Url> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (app_address, at) = (app.address.clone(), at.clone());
        let client = app.client_without_redirects();
        tasks.push(tokio::spawn(async move {
            let mut url =
                reqwest::Url::parse(&format!("{app_address}/api/v1/auth/oauth/google/callback"))
                    .unwrap();
            url.query_pairs_mut()
                .append_pair("code", at.code.as_deref().unwrap())
                .append_pair("state", &at.state);
            let res = client
                .get(url)
                .header("cookie", format!("{COOKIE}={}", at.cookie))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 302);
            location(&res)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let idp = Idp::start().await;
    let vars = google_vars(&idp);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A zero lifetime: every state is expired by the time its callback arrives.
    let app =
        spawn_app_with_settings(&vars, |s| s.oauth.state_ttl = std::time::Duration::ZERO).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let at = through_provider(&app, Some(SPA_ORIGIN)).await;
    let url = callback(&app, &at).await;
    // Without Redis the expired row is found and its target known; Redis may already
    // have dropped the key.
    assert!(
        url.as_str().starts_with(SPA_ORIGIN) || url.as_str().starts_with(FRONTEND),
        "{url}"
    );
    assert_eq!(fragment_of(&url)["error"], "invalid_state");
    assert!(
        idp.state.tokens.lock().unwrap().is_empty(),
        "no code was exchanged"
    );
}

#[tokio::test]
async fn the_code_of_one_flow_with_the_state_of_another_fails_the_pkce_check() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let first = through_provider(&app, None).await;
    let second = through_provider(&app, None).await;
    // An intercepted code replayed through another flow carries the wrong verifier.
    let mixed = AtCallback {
        code: first.code.clone(),
        ..second
    };
    assert_failed(&callback(&app, &mixed).await, FRONTEND, "exchange_failed");
    assert_eq!(
        idp.refusals(),
        ["PKCE verifier does not match the challenge"]
    );
}

#[tokio::test]
async fn access_denied_at_the_provider_returns_to_the_stored_target_with_the_error() {
    let (app, idp) = setup(&[]).await;
    idp.state.deny.store(true, Ordering::SeqCst);
    let at = through_provider(&app, Some(SPA_ORIGIN)).await;
    assert_eq!(at.error.as_deref(), Some("access_denied"));
    assert_failed(&callback(&app, &at).await, SPA_ORIGIN, "access_denied");
    // The state was used up by that answer.
    let retry = AtCallback {
        code: Some("code-x".into()),
        error: None,
        ..at
    };
    assert_failed(&callback(&app, &retry).await, FRONTEND, "invalid_state");
}

#[tokio::test]
async fn a_token_endpoint_failure_redirects_with_exchange_failed() {
    let (app, idp) = setup(&[]).await;
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    idp.state.token_fails.store(true, Ordering::SeqCst);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "exchange_failed");
    assert_eq!(idp.refusals(), ["token endpoint down"]);
}

#[tokio::test]
async fn an_unverified_email_is_refused_even_when_the_account_is_linked() {
    let (app, idp) = setup(&[
        ("GOOGLE_ALLOW_SIGNUP", "true"),
        ("DEFAULT_SIGNUP_COMPANY", "DEFAULT"),
    ])
    .await;
    let mut google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    google.email_verified = false;
    idp.sign_in_as(&google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "email_not_verified");
    assert!(
        links_of(&app, user_id).await.is_empty(),
        "no takeover by email"
    );
    // Linked while verified, then unverified: still refused.
    google.email_verified = true;
    idp.sign_in_as(&google);
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    google.email_verified = false;
    idp.sign_in_as(&google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "email_not_verified");
    // An unknown unverified account does not sign up either.
    let stranger = Identity {
        email_verified: false,
        ..Identity::new()
    };
    idp.sign_in_as(&stranger);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "email_not_verified");
    assert!(
        app.fastvue
            .users()
            .find_by_login(&stranger.email)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_inactive_user_is_refused_whether_linked_or_matched_by_email() {
    let (app, idp) = setup(&[]).await;
    let sys = Actor::system();
    // Matched by email: refused, and not linked.
    let google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    app.fastvue.users().deactivate(&sys, user_id).await.unwrap();
    idp.sign_in_as(&google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "account_inactive");
    assert!(links_of(&app, user_id).await.is_empty());
    // Linked, then deactivated: refused.
    let other = Identity::new();
    let other_id = user_with_email(&app, &other.email, Some("local-pass-123")).await;
    idp.sign_in_as(&other);
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    app.fastvue
        .users()
        .deactivate(&sys, other_id)
        .await
        .unwrap();
    assert_failed(&sign_in(&app, None).await, FRONTEND, "account_inactive");
}

#[tokio::test]
async fn a_disallowed_redirect_to_is_a_400_and_allowed_ones_are_kept() {
    let (app, idp) = setup(&[]).await;
    for bad in [
        "https://evil.example.com",
        "http://app.test.evil.com/admin",
        "http://app.test/admin/../../evil",
        "//evil.example.com",
        "javascript:alert(1)",
    ] {
        let res = authorize(&app, Some(bad)).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(res.headers().get("set-cookie").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["details"][0]["field"], "redirect_to");
    }
    let google = Identity::new();
    user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    assert_signed_in(
        &sign_in(&app, Some("http://app.test/admin/")).await,
        FRONTEND,
    );
    assert_signed_in(&sign_in(&app, Some(SPA_ORIGIN)).await, SPA_ORIGIN);
}

#[tokio::test]
async fn oauth_routes_answer_404_for_a_provider_that_is_not_enabled() {
    let app = spawn_app().await;
    let providers: Value = app
        .get("/api/v1/auth/oauth/providers")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(providers, json!([]));
    for path in [
        "google/authorize?redirect_to=x",
        "google/callback?code=a&state=b",
        "corp/authorize",
        "%3Cscript%3E/callback",
    ] {
        let res = app
            .client_without_redirects()
            .get(format!("{}/api/v1/auth/oauth/{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("is enabled"), "{body}");
        assert!(!message.contains('<'), "{body}");
    }
    // Listing links does not depend on the provider.
    let token = app.root_token().await;
    let res = app
        .client
        .get(format!("{}/api/v1/auth/me/social-accounts", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn social_accounts_are_listed_and_unlinked_but_never_the_last_way_to_sign_in() {
    let (app, idp) = setup(&[
        ("GOOGLE_ALLOW_SIGNUP", "true"),
        ("DEFAULT_SIGNUP_COMPANY", "DEFAULT"),
    ])
    .await;
    let google = Identity::new();
    idp.sign_in_as(&google);
    let tokens = assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    let token = tokens["access_token"].clone();
    let url = |path: &str| format!("{}/api/v1/auth/me/social-accounts{path}", app.address);

    let res = app.client.get(url("")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let list: Value = app
        .client
        .get(url(""))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["provider"], "google");
    assert_eq!(list[0]["provider_user_id"], google.sub);
    assert_eq!(list[0]["email"], google.email);
    let id = list[0]["id"].as_i64().unwrap();

    // No password and no other link: refused.
    let res = app
        .client
        .delete(url(&format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "conflict"
    );

    // Another user cannot see or remove it.
    let root = app.root_token().await;
    let res = app
        .client
        .delete(url(&format!("/{id}")))
        .bearer_auth(root)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // With a password it can go.
    let user_id = me(&app, &token).await["id"].as_i64().unwrap();
    app.fastvue
        .users()
        .set_password(&Actor::system(), user_id, "a-new-password-1")
        .await
        .unwrap();
    let res = app
        .client
        .delete(url(&format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(links_of(&app, user_id).await.is_empty());
    assert_eq!(
        audit_actions(&app, "social_account").await,
        ["unlink", "link"]
    );
    let res = app
        .client
        .delete(url(&format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .delete(url("/abc"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_second_link_can_be_removed_without_a_password() {
    let (app, idp) = setup(&[
        ("GOOGLE_ALLOW_SIGNUP", "true"),
        ("DEFAULT_SIGNUP_COMPANY", "DEFAULT"),
    ])
    .await;
    let google = Identity::new();
    idp.sign_in_as(&google);
    let tokens = assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    // A second Google account with the same verified email links to the same user.
    let second = Identity {
        email: google.email.clone(),
        ..Identity::new()
    };
    idp.sign_in_as(&second);
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    let user_id = me(&app, &tokens["access_token"]).await["id"]
        .as_i64()
        .unwrap();
    let links = links_of(&app, user_id).await;
    assert_eq!(links.len(), 2);
    let res = app
        .client
        .delete(format!(
            "{}/api/v1/auth/me/social-accounts/{}",
            app.address, links[0].id
        ))
        .bearer_auth(&tokens["access_token"])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(links_of(&app, user_id).await.len(), 1);
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another() {
    let (app, idp) = setup(&[]).await;
    // A second server on the same database (and the same Redis key space, if any).
    let replica = fastvue_server::startup::Application::build(app.fastvue.settings().clone())
        .await
        .expect("the replica builds");
    let replica_address = format!("http://127.0.0.1:{}", replica.port());
    tokio::spawn(replica.run_until_stopped());
    let google = Identity::new();
    let user_id = user_with_email(&app, &google.email, Some("local-pass-123")).await;
    idp.sign_in_as(&google);
    let at = through_provider(&app, None).await;
    let mut url = reqwest::Url::parse(&format!(
        "{replica_address}/api/v1/auth/oauth/google/callback"
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("code", at.code.as_deref().unwrap())
        .append_pair("state", &at.state);
    let res = app
        .client_without_redirects()
        .get(url)
        .header("cookie", format!("{COOKIE}={}", at.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let tokens = assert_signed_in(&location(&res), FRONTEND);
    assert_eq!(me(&app, &tokens["access_token"]).await["id"], user_id);
}

/// Pentest case 6: a holder of `user.update` sets a victim's email to an address it
/// controls, signs in with Google, and sets the email back. Before, auto-link trusted the
/// local email and planted a permanent Google login into the victim's account, audited as
/// the victim's own act.
#[tokio::test]
async fn case6_an_email_set_by_an_administrator_never_plants_a_google_login() {
    let (app, idp) = setup(&[]).await;
    let company = crate::roles::company(&app, "PT6").await;
    let (attacker, attacker_token) = app.user_with_role(company, "admin").await;
    let (victim, _) = app.user_with_role(company, "viewer").await;
    // The victim linked its own Google account earlier.
    let victim_google = Identity {
        email: victim.email.clone(),
        ..Identity::new()
    };
    idp.sign_in_as(&victim_google);
    assert_signed_in(&sign_in(&app, None).await, FRONTEND);
    assert_eq!(links_of(&app, victim.id).await.len(), 1);

    let set_email = |email: String| {
        let (app, token) = (&app, attacker_token.clone());
        async move {
            crate::users::patch(
                app,
                &format!("/users/{}", victim.id),
                &token,
                json!({ "email": email }),
            )
            .await
        }
    };
    let attacker_google = Identity::new();
    let (status, body) = set_email(attacker_google.email.clone()).await;
    assert_eq!(status, 200, "{body}");
    // Someone else changed the address: the victim's provider links are dropped...
    assert!(links_of(&app, victim.id).await.is_empty());
    // ... and a Google sign-in with the planted address does not link itself.
    idp.sign_in_as(&attacker_google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "account_not_linked");
    assert!(links_of(&app, victim.id).await.is_empty());
    // Setting the address back leaves the attacker's Google account matching nobody.
    let (status, body) = set_email(victim.email.clone()).await;
    assert_eq!(status, 200, "{body}");
    idp.sign_in_as(&attacker_google);
    assert_failed(&sign_in(&app, None).await, FRONTEND, "signup_disabled");
    assert!(links_of(&app, victim.id).await.is_empty());

    // The audit trail names the real actor of every step.
    let rows = app
        .fastvue
        .audit_logs()
        .list(
            &Actor::system(),
            &AuditFilter {
                actor_id: Some(attacker.id),
                ..Default::default()
            },
            PageRequest::new(Some(1), Some(100)).unwrap(),
        )
        .await
        .unwrap()
        .items;
    let acts: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.entity_type.clone(), r.action.clone()))
        .collect();
    assert!(
        acts.contains(&("social_account".into(), "unlink".into())),
        "{acts:?}"
    );
    assert_eq!(
        acts.iter()
            .filter(|(t, a)| t == "user" && a == "update")
            .count(),
        2,
        "{acts:?}"
    );
}

#[tokio::test]
async fn sign_ins_started_from_one_ip_are_limited_before_any_state_is_stored() {
    let (app, _idp) = setup(&[("RATE_LIMIT_OAUTH_PER_IP_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        assert_eq!(authorize(&app, None).await.status(), 302);
    }
    let res = authorize(&app, None).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    if test_redis_url().is_none() {
        let stored = oauth_state::Entity::find()
            .count(app.fastvue.db())
            .await
            .unwrap();
        assert_eq!(stored, 2, "the refused start stored no state");
    }
}
