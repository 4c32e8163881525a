//! Sign-in through a generic OpenID Connect provider, end to end against a stub issuer on
//! a free port: discovery, a JWKS of test RSA keys (rotated by the tests), an
//! authorization endpoint that records the nonce and the PKCE challenge, a token
//! endpoint that checks client authentication and the verifier and answers an ID token
//! (valid, or forged the way a test asks), and userinfo.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use salvo::http::StatusCode;
use salvo::http::header;
use salvo::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{TestApp, spawn_app_with_settings, test_redis_url};
use crate::oauth_browser::{
    FRONTEND, Identity, assert_failed, assert_signed_in, callback, form, fragment_of, links_of, me,
    redirect_back, serve_stub, sign_in, through_provider, user_with_email,
};

const CLIENT_ID: &str = "corp-client";
const CLIENT_SECRET: &str = "corp-client-secret";
const PROVIDER: &str = "corp";
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

// ------------------------------------------------------------ the keys --

struct TestKey {
    kid: String,
    der: Vec<u8>,
    n: String,
    e: String,
}

/// Three RSA keys made for these tests (tests/api/fixtures/oidc_test_keys.json).
static KEYS: LazyLock<Vec<TestKey>> = LazyLock::new(|| {
    let doc: Value =
        serde_json::from_str(include_str!("fixtures/oidc_test_keys.json")).expect("key fixture");
    doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| TestKey {
            kid: k["kid"].as_str().unwrap().to_owned(),
            der: STANDARD.decode(k["der"].as_str().unwrap()).unwrap(),
            n: k["n"].as_str().unwrap().to_owned(),
            e: k["e"].as_str().unwrap().to_owned(),
        })
        .collect()
});

// ------------------------------------------------------------ the stub --

/// How the token endpoint's ID token is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forge {
    /// A valid token.
    Nothing,
    WrongAudience,
    WrongIssuer,
    Expired,
    AlgNone,
    /// HS256, keyed with the public RSA modulus (algorithm confusion).
    Hs256WithThePublicKey,
    UnknownKid,
    /// Names a published key but is signed with another one.
    SignedWithAnotherKey,
    WrongNonce,
    /// The token response has no `id_token`.
    Missing,
    /// A valid token without `email`: the email comes from userinfo.
    WithoutEmail,
}

struct Grant {
    challenge: String,
    redirect_uri: String,
    nonce: String,
    identity: Identity,
}

struct OpState {
    /// What the discovery document calls the issuer.
    discovery_issuer: Mutex<String>,
    /// The `iss` of the tokens (the issuer, or a tenant's for the Microsoft case).
    token_issuer: Mutex<String>,
    /// The `tid` claim, when set.
    tid: Mutex<Option<String>>,
    base: Mutex<String>,
    identity: Mutex<Option<Identity>>,
    /// Indexes into [`KEYS`] of the published keys.
    published: Mutex<Vec<usize>>,
    /// Index into [`KEYS`] of the signing key.
    signing: Mutex<usize>,
    forge: Mutex<Forge>,
    down: AtomicBool,
    /// The key set answers 503.
    keys_down: AtomicBool,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Identity>>,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
    refusals: Mutex<Vec<String>>,
}

/// A running stub issuer.
struct Op {
    /// The issuer URL to configure.
    issuer: String,
    state: Arc<OpState>,
}

impl Op {
    /// A stub whose issuer is `{base}{path}` (path "" or e.g. `/common/v2.0`).
    async fn start(path: &str) -> Self {
        let state = Arc::new(OpState {
            discovery_issuer: Mutex::new(String::new()),
            token_issuer: Mutex::new(String::new()),
            tid: Mutex::new(None),
            base: Mutex::new(String::new()),
            identity: Mutex::new(None),
            published: Mutex::new(vec![0, 1]),
            signing: Mutex::new(0),
            forge: Mutex::new(Forge::Nothing),
            down: AtomicBool::new(false),
            keys_down: AtomicBool::new(false),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            discovery_hits: AtomicUsize::new(0),
            jwks_hits: AtomicUsize::new(0),
            refusals: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .hoop(affix_state::inject(state.clone()))
            .push(Router::with_path("{**rest}").get(op_get).post(op_token));
        let base = serve_stub(router).await;
        let issuer = format!("{base}{path}");
        *state.base.lock().unwrap() = base;
        *state.discovery_issuer.lock().unwrap() = issuer.clone();
        *state.token_issuer.lock().unwrap() = issuer.clone();
        Self { issuer, state }
    }

    fn sign_in_as(&self, identity: &Identity) {
        *self.state.identity.lock().unwrap() = Some(identity.clone());
    }

    fn forge(&self, forge: Forge) {
        *self.state.forge.lock().unwrap() = forge;
    }

    /// Publishes `keys` and signs with `signing` (indexes into [`KEYS`]).
    fn keys(&self, keys: &[usize], signing: usize) {
        *self.state.published.lock().unwrap() = keys.to_vec();
        *self.state.signing.lock().unwrap() = signing;
    }

    fn refusals(&self) -> Vec<String> {
        self.state.refusals.lock().unwrap().clone()
    }
}

fn op(depot: &Depot) -> Arc<OpState> {
    depot
        .get_typed::<Arc<OpState>>()
        .expect("stub state")
        .clone()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[handler]
async fn op_get(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = op(depot);
    let path = req.uri().path().to_owned();
    let base = s.base.lock().unwrap().clone();
    if path.ends_with("/.well-known/openid-configuration") {
        s.discovery_hits.fetch_add(1, Ordering::SeqCst);
        if s.down.load(Ordering::SeqCst) {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
            return;
        }
        res.render(Json(json!({
            "issuer": *s.discovery_issuer.lock().unwrap(),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
        })));
    } else if path == "/jwks" {
        s.jwks_hits.fetch_add(1, Ordering::SeqCst);
        if s.keys_down.load(Ordering::SeqCst) {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
            return;
        }
        let keys: Vec<Value> = s
            .published
            .lock()
            .unwrap()
            .iter()
            .map(|&i| {
                let k = &KEYS[i];
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.n, "e": k.e})
            })
            // A key of a kind fastvue does not use is skipped, not fatal.
            .chain([json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "enc-1", "n": KEYS[2].n, "e": "AQAB"})])
            .collect();
        res.render(Json(json!({ "keys": keys })));
    } else if path == "/authorize" {
        authorize(&s, req, res);
    } else if path == "/userinfo" {
        let identity = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| s.tokens.lock().unwrap().get(t).cloned());
        match identity {
            Some(i) => res.render(Json(json!({
                "sub": i.sub, "email": i.email, "email_verified": i.email_verified,
            }))),
            None => {
                res.status_code(StatusCode::UNAUTHORIZED);
            }
        }
    } else {
        res.status_code(StatusCode::NOT_FOUND);
    }
}

fn authorize(s: &OpState, req: &Request, res: &mut Response) {
    let q = form(req.uri().query().unwrap_or_default());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let problem = if get("client_id") != CLIENT_ID {
        Some("unknown client_id")
    } else if get("response_type") != "code" {
        Some("response_type is not code")
    } else if !get("redirect_uri").ends_with("/api/v1/auth/oauth/corp/callback")
        && !get("redirect_uri").ends_with("/api/v1/auth/oauth/staff/callback")
    {
        Some("redirect_uri is not registered")
    } else if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        Some("no S256 code challenge")
    } else if get("nonce").len() < 20 {
        Some("no nonce")
    } else if !get("scope").split(' ').any(|s| s == "openid") {
        Some("no openid scope")
    } else {
        None
    };
    if let Some(problem) = problem {
        s.refusals.lock().unwrap().push(problem.into());
        res.status_code(StatusCode::BAD_REQUEST);
        return;
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    let identity = s.identity.lock().unwrap().clone().expect("an identity");
    s.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
            nonce: get("nonce"),
            identity,
        },
    );
    redirect_back(
        res,
        &get("redirect_uri"),
        &[("code", &code), ("state", &get("state"))],
    );
}

#[handler]
async fn op_token(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let s = op(depot);
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
    let f = form(std::str::from_utf8(&body).unwrap_or_default());
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let grant = s
        .codes
        .lock()
        .unwrap()
        .remove(f.get("code").map(String::as_str).unwrap_or_default());
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let problem = match &grant {
        _ if auth.as_deref() != Some(basic.as_str()) => Some("bad client credentials"),
        None => Some("unknown or used code"),
        Some(g) if f.get("redirect_uri") != Some(&g.redirect_uri) => Some("redirect_uri differs"),
        Some(g)
            if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) != g.challenge =>
        {
            Some("PKCE verifier does not match")
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        s.refusals.lock().unwrap().push(problem.into());
        res.status_code(StatusCode::BAD_REQUEST);
        res.render(Json(json!({ "error": "invalid_grant" })));
        return;
    }
    let grant = grant.expect("checked");
    let access = format!("at-{}", uuid::Uuid::new_v4().simple());
    s.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), grant.identity.clone());
    let mut body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 300 });
    if let Some(id_token) = id_token(&s, &grant) {
        body["id_token"] = id_token.into();
    }
    res.render(Json(body));
}

/// The ID token for `grant`, forged as the test asked.
fn id_token(s: &OpState, grant: &Grant) -> Option<String> {
    let forge = *s.forge.lock().unwrap();
    let t = now();
    let mut claims = json!({
        "iss": *s.token_issuer.lock().unwrap(),
        "sub": grant.identity.sub,
        "aud": CLIENT_ID,
        "exp": t + 300,
        "iat": t,
        "nonce": grant.nonce,
        "email": grant.identity.email,
        "email_verified": grant.identity.email_verified,
        "name": grant.identity.name,
    });
    if let Some(tid) = s.tid.lock().unwrap().clone() {
        claims["tid"] = tid.into();
    }
    match forge {
        Forge::Missing => return None,
        Forge::WrongAudience => claims["aud"] = "another-client".into(),
        Forge::WrongIssuer => claims["iss"] = "https://evil.example.com".into(),
        Forge::Expired => {
            claims["exp"] = (t - 3600).into();
            claims["iat"] = (t - 7200).into();
        }
        Forge::WrongNonce => claims["nonce"] = "a-nonce-of-another-sign-in".into(),
        Forge::WithoutEmail => {
            let c = claims.as_object_mut().unwrap();
            c.remove("email");
            c.remove("email_verified");
        }
        _ => {}
    }
    let signing = *s.signing.lock().unwrap();
    let key = &KEYS[signing];
    let rs256 = |kid: &str, der: &[u8]| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der)).unwrap()
    };
    Some(match forge {
        Forge::AlgNone => {
            let h =
                URL_SAFE_NO_PAD.encode(json!({"alg":"none","typ":"JWT","kid":key.kid}).to_string());
            let c = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{h}.{c}.")
        }
        Forge::Hs256WithThePublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid.clone());
            jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_secret(key.n.as_bytes()),
            )
            .unwrap()
        }
        Forge::UnknownKid => rs256("k-unknown", &key.der),
        Forge::SignedWithAnotherKey => rs256(&key.kid, &KEYS[(signing + 2) % 3].der),
        _ => rs256(&key.kid, &key.der),
    })
}

// ------------------------------------------------------------- harness --

fn vars(op: &Op, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("OAUTH_PROVIDERS", PROVIDER.to_owned()),
        ("OAUTH_CORP_ISSUER", op.issuer.clone()),
        ("OAUTH_CORP_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OAUTH_CORP_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        (
            "OAUTH_CORP_REDIRECT_URI",
            "http://api.test/api/v1/auth/oauth/corp/callback".to_owned(),
        ),
        ("OAUTH_CORP_DISPLAY_NAME", "Corp SSO".to_owned()),
        ("FRONTEND_URL", FRONTEND.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(url) = test_redis_url() {
        vars.push(("REDIS_URL".into(), url));
    }
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

/// A server whose `corp` provider is `op`; `min_refresh` bounds key refetches.
async fn app_for(op: &Op, extra: &[(&str, &str)], min_refresh: Option<Duration>) -> TestApp {
    let vars = vars(op, extra);
    let all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with_settings(&all, |s| {
        if let Some(d) = min_refresh {
            s.oauth.jwks_min_refresh = d;
        }
    })
    .await
}

async fn setup(extra: &[(&str, &str)]) -> (TestApp, Op) {
    let op = Op::start("").await;
    (app_for(&op, extra, None).await, op)
}

/// A user with the identity's email, signing in at the stub from now on.
async fn known_user(app: &TestApp, op: &Op) -> (Identity, i64) {
    let identity = Identity::new();
    let user_id = user_with_email(app, &identity.email, Some("local-pass-123")).await;
    op.sign_in_as(&identity);
    (identity, user_id)
}

// --------------------------------------------------------------- tests --

#[tokio::test]
async fn an_oidc_provider_links_and_signs_in_the_user_with_its_verified_email() {
    let (app, op) = setup(&[]).await;
    let (identity, user_id) = known_user(&app, &op).await;
    let url = sign_in(&app, PROVIDER, None).await;
    let f = assert_signed_in(&url, FRONTEND);
    assert_eq!(me(&app, &f["access_token"]).await["id"], user_id);
    let links = links_of(&app, user_id).await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].provider, PROVIDER);
    assert_eq!(links[0].provider_user_id, identity.sub);
    // Again through the link; the discovery document was fetched once.
    let url = sign_in(&app, PROVIDER, None).await;
    assert_signed_in(&url, FRONTEND);
    assert_eq!(op.state.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(op.state.jwks_hits.load(Ordering::SeqCst), 1);
    assert!(op.refusals().is_empty(), "{:?}", op.refusals());
    // The sign-in history names the provider.
    let history: Value = app
        .client
        .get(format!("{}/api/v1/auth/sign-ins", app.address))
        .bearer_auth(&f["access_token"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["method"], PROVIDER, "{history}");
}

#[tokio::test]
async fn the_providers_route_lists_the_enabled_providers_for_a_sign_in_page() {
    let (app, _op) = setup(&[]).await;
    let res = app.get("/api/v1/auth/oauth/providers").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!([{
            "name": "corp",
            "display_name": "Corp SSO",
            "type": "oidc",
            "authorize_url": "/api/v1/auth/oauth/corp/authorize",
        }])
    );
}

/// Signs in with an ID token forged as `forge`: refused with `invalid_id_token`, and
/// nothing is linked.
async fn assert_forged_token_refused(forge: Forge) {
    let (app, op) = setup(&[]).await;
    let (_, user_id) = known_user(&app, &op).await;
    op.forge(forge);
    let url = sign_in(&app, PROVIDER, None).await;
    assert_failed(&url, FRONTEND, "invalid_id_token");
    assert!(links_of(&app, user_id).await.is_empty(), "{forge:?} linked");
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    assert_forged_token_refused(Forge::WrongAudience).await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    assert_forged_token_refused(Forge::WrongIssuer).await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    assert_forged_token_refused(Forge::Expired).await;
}

#[tokio::test]
async fn an_unsigned_id_token_with_alg_none_is_refused() {
    assert_forged_token_refused(Forge::AlgNone).await;
}

#[tokio::test]
async fn an_hs256_id_token_keyed_with_the_public_rsa_key_is_refused() {
    assert_forged_token_refused(Forge::Hs256WithThePublicKey).await;
}

#[tokio::test]
async fn an_id_token_with_an_unknown_kid_is_refused() {
    assert_forged_token_refused(Forge::UnknownKid).await;
}

#[tokio::test]
async fn an_id_token_naming_a_published_key_but_signed_with_another_is_refused() {
    assert_forged_token_refused(Forge::SignedWithAnotherKey).await;
}

#[tokio::test]
async fn an_id_token_with_the_nonce_of_another_sign_in_is_refused() {
    assert_forged_token_refused(Forge::WrongNonce).await;
}

#[tokio::test]
async fn a_token_response_without_an_id_token_is_refused() {
    assert_forged_token_refused(Forge::Missing).await;
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_and_accepted() {
    let op = Op::start("").await;
    let app = app_for(&op, &[], Some(Duration::ZERO)).await;
    let (_, user_id) = known_user(&app, &op).await;
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
    assert_eq!(op.state.jwks_hits.load(Ordering::SeqCst), 1);
    // The issuer rotates: k1 retires, k3 signs.
    op.keys(&[1, 2], 2);
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
    assert_eq!(op.state.jwks_hits.load(Ordering::SeqCst), 2);
    // Known keys need no fetch.
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
    assert_eq!(op.state.jwks_hits.load(Ordering::SeqCst), 2);
    assert_eq!(links_of(&app, user_id).await.len(), 1);
}

#[tokio::test]
async fn unknown_key_ids_refetch_the_keys_at_most_once_per_interval() {
    let (app, op) = setup(&[]).await;
    known_user(&app, &op).await;
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
    op.keys(&[1, 2], 2);
    for _ in 0..3 {
        let url = sign_in(&app, PROVIDER, None).await;
        assert_failed(&url, FRONTEND, "invalid_id_token");
    }
    // Within the default interval (10 s) no new fetch was made.
    assert_eq!(op.state.jwks_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_email_comes_from_userinfo_when_the_id_token_has_none() {
    let (app, op) = setup(&[]).await;
    let (_, user_id) = known_user(&app, &op).await;
    op.forge(Forge::WithoutEmail);
    let url = sign_in(&app, PROVIDER, None).await;
    assert_signed_in(&url, FRONTEND);
    assert_eq!(links_of(&app, user_id).await.len(), 1);
}

#[tokio::test]
async fn an_unverified_email_is_refused_and_allowed_domains_are_enforced() {
    let (app, op) = setup(&[("OAUTH_CORP_ALLOWED_DOMAINS", "staff.example.com")]).await;
    let (_, user_id) = known_user(&app, &op).await;
    let url = sign_in(&app, PROVIDER, None).await;
    assert_failed(&url, FRONTEND, "domain_not_allowed");
    let mut unverified = Identity::new();
    unverified.email_verified = false;
    op.sign_in_as(&unverified);
    let url = sign_in(&app, PROVIDER, None).await;
    assert_failed(&url, FRONTEND, "email_not_verified");
    assert!(links_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn signup_through_an_oidc_provider_creates_a_linked_user_in_its_company() {
    let (app, op) = setup(&[
        ("OAUTH_CORP_ALLOW_SIGNUP", "true"),
        ("OAUTH_CORP_DEFAULT_COMPANY", "DEFAULT"),
    ])
    .await;
    let identity = Identity::new();
    op.sign_in_as(&identity);
    let url = sign_in(&app, PROVIDER, None).await;
    let f = assert_signed_in(&url, FRONTEND);
    let me = me(&app, &f["access_token"]).await;
    assert_eq!(me["email"], identity.email.as_str());
    let links = links_of(&app, me["id"].as_i64().unwrap()).await;
    assert_eq!(links[0].provider, PROVIDER);
}

#[tokio::test]
async fn an_account_with_two_factor_gets_the_pending_step_from_an_oidc_provider() {
    let (app, op) = setup(&[]).await;
    let (identity, _) = known_user(&app, &op).await;
    let token = app.login(&identity.email, "local-pass-123").await;
    crate::two_factor::enrol(&app, &token).await;
    let url = sign_in(&app, PROVIDER, None).await;
    let f = fragment_of(&url);
    assert_eq!(f["mfa_required"], "true", "{url}");
    assert!(!f.contains_key("access_token"));
}

#[tokio::test]
async fn an_unreachable_issuer_makes_authorize_answer_503_with_retry_after() {
    let (app, op) = setup(&[]).await;
    op.state.down.store(true, Ordering::SeqCst);
    let res = crate::oauth_browser::authorize(&app, PROVIDER, None).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
}

#[tokio::test]
async fn a_state_started_with_one_provider_is_refused_at_another() {
    let op = Op::start("").await;
    let app = app_for(
        &op,
        &[
            ("OAUTH_PROVIDERS", "corp,staff"),
            ("OAUTH_STAFF_ISSUER", op.issuer.as_str()),
            ("OAUTH_STAFF_CLIENT_ID", CLIENT_ID),
            ("OAUTH_STAFF_CLIENT_SECRET", CLIENT_SECRET),
            (
                "OAUTH_STAFF_REDIRECT_URI",
                "http://api.test/api/v1/auth/oauth/staff/callback",
            ),
        ],
        None,
    )
    .await;
    known_user(&app, &op).await;
    let at = through_provider(&app, PROVIDER, None).await;
    let url = callback(&app, "staff", &at).await;
    assert_failed(&url, FRONTEND, "invalid_state");
}

#[tokio::test]
async fn a_microsoft_multi_tenant_issuer_checks_iss_against_the_tokens_tenant() {
    let op = Op::start("/common/v2.0").await;
    let base = op.state.base.lock().unwrap().clone();
    *op.state.discovery_issuer.lock().unwrap() = format!("{base}/{{tenantid}}/v2.0");
    *op.state.token_issuer.lock().unwrap() = format!("{base}/{TENANT}/v2.0");
    *op.state.tid.lock().unwrap() = Some(TENANT.to_owned());
    let app = app_for(&op, &[], None).await;
    let (_, user_id) = known_user(&app, &op).await;
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
    assert_eq!(links_of(&app, user_id).await.len(), 1);
    // A token of one tenant claiming another tenant's issuer is refused.
    *op.state.tid.lock().unwrap() = Some("00000000-0000-0000-0000-000000000001".to_owned());
    let url = sign_in(&app, PROVIDER, None).await;
    assert_failed(&url, FRONTEND, "invalid_id_token");
}

#[tokio::test]
async fn unreachable_signing_keys_end_the_callback_with_provider_unavailable_and_link_nothing() {
    let (app, op) = setup(&[]).await;
    let (_, user_id) = known_user(&app, &op).await;
    op.state.keys_down.store(true, Ordering::SeqCst);
    let url = sign_in(&app, PROVIDER, None).await;
    assert_failed(&url, FRONTEND, "provider_unavailable");
    assert!(links_of(&app, user_id).await.is_empty());
    // Once the keys answer again, the same account signs in.
    op.state.keys_down.store(false, Ordering::SeqCst);
    assert_signed_in(&sign_in(&app, PROVIDER, None).await, FRONTEND);
}
