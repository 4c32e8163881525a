//! Tokens: signing rules, refresh rotation with reuse detection, logout, revocation,
//! password changes, and the failed sign-in limiter.
use std::time::Duration;

use chrono::Utc;
use fastvue_core::Error;
use fastvue_core::auth::{LoginLimiter, TokenError, TokenKind};
use fastvue_core::config::DEV_JWT_SECRET_KEY;
use fastvue_core::entity::refresh_token;
use fastvue_core::service::users::UserPatch;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

fn jti(db: &TestDb, refresh: &str) -> String {
    db.fv
        .jwt()
        .verify(refresh, TokenKind::Refresh)
        .expect("a valid refresh token")
        .jti
}

async fn row(db: &TestDb, id: &str) -> refresh_token::Model {
    refresh_token::Entity::find_by_id(id.to_owned())
        .one(db.fv.db())
        .await
        .unwrap()
        .expect("refresh token row")
}

async fn live_rows(db: &TestDb, user_id: i64) -> usize {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .all(db.fv.db())
        .await
        .unwrap()
        .len()
}

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn claims_json(user_id: i64, kind: &str, exp_in_secs: i64) -> serde_json::Value {
    let now = Utc::now().timestamp();
    serde_json::json!({
        "sub": user_id.to_string(), "iat": now, "exp": now + exp_in_secs,
        "jti": "forged-jti", "type": kind,
    })
}

fn sign(alg: Algorithm, secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn an_access_token_identifies_its_active_user() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let pair = db.fv.tokens().issue(&u).await.unwrap();
    assert_eq!(pair.token_type, "bearer");
    assert_eq!(pair.expires_in, 30 * 60);
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600);
    let who = db
        .fv
        .tokens()
        .verify_access(&pair.access_token)
        .await
        .unwrap();
    assert_eq!(who.id, u.id);
    assert_eq!(live_rows(&db, u.id).await, 1);
}

#[tokio::test]
async fn a_token_of_each_kind_is_refused_as_the_other() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let pair = db.fv.tokens().issue(&u).await.unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&pair.refresh_token).await,
        Err(TokenError::Invalid)
    ));
    assert!(matches!(
        db.fv.tokens().refresh(&pair.access_token).await,
        Err(TokenError::Invalid)
    ));
}

#[tokio::test]
async fn tokens_signed_otherwise_are_refused() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let claims = claims_json(u.id, "access", 600);
    // Sanity: the same claims signed as the server does are accepted.
    let genuine = sign(Algorithm::HS256, DEV_JWT_SECRET_KEY, &claims);
    assert!(db.fv.tokens().verify_access(&genuine).await.is_ok());

    let other_alg = sign(Algorithm::HS512, DEV_JWT_SECRET_KEY, &claims);
    let other_key = sign(
        Algorithm::HS256,
        "some-other-secret-key-of-enough-length",
        &claims,
    );
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64url(claims.to_string().as_bytes());
    let alg_none = format!("{header}.{payload}.");
    let tampered = {
        let mut parts: Vec<&str> = genuine.split('.').collect();
        let evil = b64url(claims_json(u.id + 1, "access", 600).to_string().as_bytes());
        parts[1] = &evil;
        parts.join(".")
    };
    for token in [
        other_alg,
        other_key,
        alg_none,
        tampered,
        "garbage".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(
                db.fv.tokens().verify_access(&token).await,
                Err(TokenError::Invalid)
            ),
            "accepted {token:?}"
        );
    }
}

#[tokio::test]
async fn a_remembered_access_token_still_expires_at_its_exp_and_stops_with_its_user() {
    // A verified token is remembered (its signature is not checked again), but `exp` and
    // the user are checked on every use.
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let token = sign(
        Algorithm::HS256,
        DEV_JWT_SECRET_KEY,
        &claims_json(u.id, "access", 2),
    );
    assert!(db.fv.tokens().verify_access(&token).await.is_ok());
    assert!(db.fv.tokens().verify_access(&token).await.is_ok());
    let other = create_user(&db.fv, "bob").await;
    let bobs = sign(
        Algorithm::HS256,
        DEV_JWT_SECRET_KEY,
        &claims_json(other.id, "access", 600),
    );
    assert!(db.fv.tokens().verify_access(&bobs).await.is_ok());
    db.fv
        .users()
        .update(
            &sys(),
            other.id,
            fastvue_core::service::users::UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&bobs).await,
        Err(TokenError::Invalid)
    ));
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    assert!(matches!(
        db.fv.tokens().verify_access(&token).await,
        Err(TokenError::Expired)
    ));
}

#[tokio::test]
async fn expired_tokens_are_refused_as_expired() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let long_ago = Utc::now() - chrono::Duration::days(30);
    let (access, _) = db
        .fv
        .jwt()
        .issue(u.id, TokenKind::Access, long_ago)
        .unwrap();
    let (refresh, _) = db
        .fv
        .jwt()
        .issue(u.id, TokenKind::Refresh, long_ago)
        .unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&access).await,
        Err(TokenError::Expired)
    ));
    assert!(matches!(
        db.fv.tokens().refresh(&refresh).await,
        Err(TokenError::Expired)
    ));
    // One second past `exp` is already too late: no leeway.
    let claims = claims_json(u.id, "access", -1);
    let just_expired = sign(Algorithm::HS256, DEV_JWT_SECRET_KEY, &claims);
    assert!(matches!(
        db.fv.tokens().verify_access(&just_expired).await,
        Err(TokenError::Expired)
    ));
}

#[tokio::test]
async fn refresh_rotates_within_the_family() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let first = db.fv.tokens().issue(&u).await.unwrap();
    let (second, who) = db.fv.tokens().refresh(&first.refresh_token).await.unwrap();
    assert_eq!(who.id, u.id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(
        db.fv
            .tokens()
            .verify_access(&second.access_token)
            .await
            .is_ok()
    );

    let old = row(&db, &jti(&db, &first.refresh_token)).await;
    let new = row(&db, &jti(&db, &second.refresh_token)).await;
    assert!(old.revoked_at.is_some());
    assert_eq!(old.replaced_by.as_deref(), Some(new.id.as_str()));
    assert_eq!(old.family_id, new.family_id);
    assert!(new.revoked_at.is_none());
    assert_eq!(live_rows(&db, u.id).await, 1);

    // The new one rotates again.
    assert!(db.fv.tokens().refresh(&second.refresh_token).await.is_ok());
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let other_session = db.fv.tokens().issue(&u).await.unwrap();
    let first = db.fv.tokens().issue(&u).await.unwrap();
    let (second, _) = db.fv.tokens().refresh(&first.refresh_token).await.unwrap();

    assert!(matches!(
        db.fv.tokens().refresh(&first.refresh_token).await,
        Err(TokenError::Reused)
    ));
    // The legitimate successor is dead too...
    assert!(matches!(
        db.fv.tokens().refresh(&second.refresh_token).await,
        Err(TokenError::Reused)
    ));
    // ...but another session of the same user is not touched.
    assert!(
        db.fv
            .tokens()
            .refresh(&other_session.refresh_token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_at_most_one_succeed() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let pair = db.fv.tokens().issue(&u).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let fv = db.fv.clone();
            let token = pair.refresh_token.clone();
            tokio::spawn(async move { fv.tokens().refresh(&token).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(TokenError::Reused) => {}
            Err(e) => panic!("unexpected refresh failure: {e:?}"),
        }
    }
    assert!(ok <= 1, "{ok} refreshes of one token succeeded");
    // Whatever the interleaving, a second use happened, so the session is gone.
    assert_eq!(live_rows(&db, u.id).await, 0);
}

#[tokio::test]
async fn an_inactive_user_loses_access_and_refresh_at_once() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let pair = db.fv.tokens().issue(&u).await.unwrap();
    db.fv
        .users()
        .update(
            &sys(),
            u.id,
            UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&pair.access_token).await,
        Err(TokenError::Invalid)
    ));
    // Deactivation revokes the sessions (reuse) or the refresh finds the user inactive.
    assert!(matches!(
        db.fv.tokens().refresh(&pair.refresh_token).await,
        Err(TokenError::Invalid | TokenError::Reused)
    ));
    assert_eq!(live_rows(&db, u.id).await, 0);
}

#[tokio::test]
async fn a_token_of_an_unknown_user_is_refused() {
    let db = TestDb::new().await;
    let (token, _) = db
        .fv
        .jwt()
        .issue(999_999, TokenKind::Access, Utc::now())
        .unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&token).await,
        Err(TokenError::Invalid)
    ));
    let (refresh, _) = db
        .fv
        .jwt()
        .issue(999_999, TokenKind::Refresh, Utc::now())
        .unwrap();
    assert!(matches!(
        db.fv.tokens().refresh(&refresh).await,
        Err(TokenError::Invalid)
    ));
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let first = db.fv.tokens().issue(&u).await.unwrap();
    let (second, _) = db.fv.tokens().refresh(&first.refresh_token).await.unwrap();
    db.fv.tokens().logout(&second.refresh_token).await.unwrap();
    db.fv.tokens().logout(&second.refresh_token).await.unwrap();
    // An old token of the same session also logs out quietly.
    db.fv.tokens().logout(&first.refresh_token).await.unwrap();
    assert_eq!(live_rows(&db, u.id).await, 0);
    assert!(db.fv.tokens().refresh(&second.refresh_token).await.is_err());
    // A genuinely signed but unknown token is fine; a forged one is not.
    let (unknown, _) = db
        .fv
        .jwt()
        .issue(u.id, TokenKind::Refresh, Utc::now())
        .unwrap();
    db.fv.tokens().logout(&unknown).await.unwrap();
    assert!(matches!(
        db.fv.tokens().logout("not-a-token").await,
        Err(TokenError::Invalid)
    ));
    assert!(matches!(
        db.fv.tokens().logout(&second.access_token).await,
        Err(TokenError::Invalid)
    ));
}

#[tokio::test]
async fn logout_accepts_an_expired_refresh_token() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let long_ago = Utc::now() - chrono::Duration::days(30);
    let (expired, _) = db
        .fv
        .jwt()
        .issue(u.id, TokenKind::Refresh, long_ago)
        .unwrap();
    db.fv.tokens().logout(&expired).await.unwrap();
}

#[tokio::test]
async fn revoke_all_ends_every_session_of_the_user_only() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let other = create_user(&db.fv, "bob").await;
    let a = db.fv.tokens().issue(&u).await.unwrap();
    let b = db.fv.tokens().issue(&u).await.unwrap();
    let c = db.fv.tokens().issue(&other).await.unwrap();
    assert_eq!(db.fv.tokens().revoke_all(u.id).await.unwrap(), 2);
    assert!(db.fv.tokens().refresh(&a.refresh_token).await.is_err());
    assert!(db.fv.tokens().refresh(&b.refresh_token).await.is_err());
    assert!(db.fv.tokens().refresh(&c.refresh_token).await.is_ok());
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_ends_all_sessions() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "alice").await;
    let pair = db.fv.tokens().issue(&u).await.unwrap();
    let tokens = db.fv.tokens();
    let alice = acting(&db.fv, u.id, None).await;

    let wrong = tokens
        .change_password(&alice, "not the password", "a brand new password")
        .await;
    assert_eq!(invalid_fields(wrong), ["current_password"]);
    let weak = tokens.change_password(&alice, PASSWORD, "short").await;
    assert_eq!(invalid_fields(weak), ["new_password"]);
    assert_eq!(live_rows(&db, u.id).await, 1);

    tokens
        .change_password(&alice, PASSWORD, "a brand new password")
        .await
        .unwrap();
    assert_eq!(live_rows(&db, u.id).await, 0);
    assert!(tokens.refresh(&pair.refresh_token).await.is_err());
    assert!(matches!(
        db.fv.users().authenticate("alice", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
    db.fv
        .users()
        .authenticate("alice", "a brand new password")
        .await
        .unwrap();
}

async fn assert_limits(limiter: &LoginLimiter, login: &str) {
    let ip = "203.0.113.7";
    for _ in 0..limiter.limit() {
        assert_eq!(limiter.check(ip, login).await, None);
        limiter.record_failure(ip, login).await;
    }
    let retry = limiter
        .check(ip, login)
        .await
        .expect("blocked after the limit");
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    // Keyed per IP and case-insensitive login.
    assert!(limiter.check(ip, &login.to_uppercase()).await.is_some());
    assert_eq!(limiter.check("203.0.113.8", login).await, None);
    assert_eq!(limiter.check(ip, &format!("{login}x")).await, None);
    // A success clears the counter.
    limiter.clear(ip, login).await;
    assert_eq!(limiter.check(ip, login).await, None);
}

fn unique_login() -> String {
    format!("user-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_login_limiter_blocks_after_the_limit_in_process() {
    let db = TestDb::with(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "3")]).await;
    assert_eq!(db.fv.login_limiter().limit(), 3);
    assert_limits(db.fv.login_limiter(), &unique_login()).await;
}

#[tokio::test]
async fn the_login_limiter_counts_in_redis_when_configured() {
    let Some(url) = fastvue_core::testing::server_url(fastvue_core::testing::REDIS_VAR) else {
        return;
    };
    let db = TestDb::with(&[("REDIS_URL", &url), ("RATE_LIMIT_LOGIN_PER_MINUTE", "3")]).await;
    let login = unique_login();
    assert_limits(db.fv.login_limiter(), &login).await;
    // Shared: a second handle (another replica) sees the same counters.
    let other = db
        .connect_again(&[("REDIS_URL", &url), ("RATE_LIMIT_LOGIN_PER_MINUTE", "3")])
        .await;
    for _ in 0..3 {
        db.fv
            .login_limiter()
            .record_failure("198.51.100.1", &login)
            .await;
    }
    assert!(
        other
            .login_limiter()
            .check("198.51.100.1", &login)
            .await
            .is_some()
    );
    other.login_limiter().clear("198.51.100.1", &login).await;
}

#[tokio::test]
async fn the_login_limiter_falls_back_to_process_memory_when_redis_is_down() {
    let db = TestDb::with(&[
        ("REDIS_URL", "redis://127.0.0.1:1/"),
        ("REDIS_POOL_TIMEOUT", "1"),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "2"),
    ])
    .await;
    assert_limits(db.fv.login_limiter(), &unique_login()).await;
}

#[tokio::test]
async fn the_login_limiter_forgets_failures_after_the_window() {
    let limiter = LoginLimiter::with_window(1, Duration::from_millis(200), None);
    limiter.record_failure("192.0.2.1", "alice").await;
    assert!(limiter.check("192.0.2.1", "alice").await.is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(limiter.check("192.0.2.1", "alice").await, None);
}

#[tokio::test]
async fn a_verified_user_is_cached_until_a_write_to_that_user() {
    let db = TestDb::new().await;
    let u = create_user(&db.fv, "carol").await;
    let (fv, log) = db.counted_handle().await;
    let token = fv.tokens().issue(&u).await.unwrap().access_token;
    let verify = async |fv: &fastvue_core::Fastvue| fv.tokens().verify_access(&token).await;

    log.clear();
    assert_eq!(verify(&fv).await.unwrap().id, u.id);
    assert_eq!(log.take().len(), 1, "the first request reads the user");
    assert_eq!(verify(&fv).await.unwrap().full_name, u.full_name);
    assert!(
        log.take().is_empty(),
        "later requests are answered from the cache"
    );

    // A profile change through the services is seen by the very next request.
    let patch = UserPatch {
        full_name: Some("Carol C.".into()),
        ..Default::default()
    };
    fv.users().update(&sys(), u.id, patch).await.unwrap();
    assert_eq!(
        verify(&fv).await.unwrap().full_name.as_deref(),
        Some("Carol C.")
    );

    // So is a deactivation.
    fv.users().deactivate(&sys(), u.id).await.unwrap();
    assert!(matches!(verify(&fv).await, Err(TokenError::Invalid)));
}

#[tokio::test]
async fn with_the_cache_disabled_every_request_reads_the_user() {
    let db = TestDb::with(&[("CACHE_ENABLED", "false")]).await;
    let u = create_user(&db.fv, "dave").await;
    let token = db.fv.tokens().issue(&u).await.unwrap().access_token;
    for _ in 0..2 {
        assert_eq!(db.fv.tokens().verify_access(&token).await.unwrap().id, u.id);
    }
    // Deactivated behind the services' back: seen at once without a cache.
    use sea_orm::sea_query::Expr;
    fastvue_core::entity::user::Entity::update_many()
        .col_expr(
            fastvue_core::entity::user::Column::IsActive,
            Expr::value(false),
        )
        .filter(fastvue_core::entity::user::Column::Id.eq(u.id))
        .exec(db.fv.db())
        .await
        .unwrap();
    assert!(matches!(
        db.fv.tokens().verify_access(&token).await,
        Err(TokenError::Invalid)
    ));
}
