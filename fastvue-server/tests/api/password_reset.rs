//! "Forgot password" over HTTP, end to end through the mail: the link arrives at the
//! SMTP server (`scripts/smtp-sink.sh`; the outbox without it), is followed, works once,
//! expires, and ends every session; an unknown address is answered exactly like a known
//! one.
use std::time::Duration;

use fastvue_core::entity::email_token;
use fastvue_core::testing::{link_in, mail_count, wait_for_mail};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};
use crate::invitations::mailed;
use crate::two_factor::first_step;
use crate::users::{new_company, patch, send};

const NEW_PASSWORD: &str = "brand-new-password-1";

async fn forgot(app: &TestApp, email: &str) -> (u16, Value) {
    send(
        app,
        Method::POST,
        "/auth/password/forgot",
        None,
        Some(json!({ "email": email })),
    )
    .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    send(
        app,
        Method::POST,
        "/auth/password/reset",
        None,
        Some(json!({ "token": token, "new_password": password })),
    )
    .await
}

/// The token of the newest reset mail to `to`.
async fn mailed_token(app: &TestApp, to: &str) -> String {
    let mail = wait_for_mail(app.fastvue.settings(), to, Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no mail to {to}"));
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    assert!(
        mail.contains(&format!(
            "{}/reset-password?token=",
            app.fastvue.settings().mail.public_url
        )),
        "{mail}"
    );
    mailed(app, to, "/reset-password?token=").await
}

#[tokio::test]
async fn a_mailed_link_sets_a_new_password_once_and_ends_every_session() {
    let app = spawn_app().await;
    let company = new_company(&app, "PWR1", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let (_, session) = first_step(&app, &user.username, USER_PASSWORD).await;
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = forgot(&app, &user.email.to_uppercase()).await;
    assert_eq!(status, 202, "{body}");
    let token = mailed_token(&app, &user.email).await;
    // Stored as a keyed hash only.
    let stored = email_token::Entity::find()
        .filter(email_token::Column::UserId.eq(user.id))
        .one(app.fastvue.db())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.token_hash, token);
    assert!(!stored.token_hash.contains(&token));

    let (status, body) = reset(&app, &token, "short").await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["field"], "new_password");
    let (status, body) = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");

    let (status, _) = first_step(&app, &user.username, USER_PASSWORD).await;
    assert_eq!(status, 401, "the old password is gone");
    let (status, _) = first_step(&app, &user.username, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(status, 401, "sessions from before the reset ended");
    let (status, body) = reset(&app, &token, "another-password-2").await;
    assert_eq!(status, 422, "the link works once");
    assert_eq!(body["error"]["details"][0]["field"], "token");
}

#[tokio::test]
async fn an_unknown_address_is_answered_exactly_like_a_known_one_and_gets_no_mail() {
    let app = spawn_app().await;
    let company = new_company(&app, "PWR2", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let unknown = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());

    let known_answer = forgot(&app, &user.email).await;
    let unknown_answer = forgot(&app, &unknown).await;
    assert_eq!(known_answer, unknown_answer);
    assert_eq!(known_answer.0, 202);
    mailed_token(&app, &user.email).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail_count(app.fastvue.settings(), &unknown), 0);

    let (status, body) = forgot(&app, "not an address").await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["field"], "email");
}

#[tokio::test]
async fn expired_links_and_links_of_unproven_or_inactive_accounts_do_not_work() {
    let app = spawn_app().await;
    let company = new_company(&app, "PWR3", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    forgot(&app, &user.email).await;
    let token = mailed_token(&app, &user.email).await;
    email_token::Entity::update_many()
        .col_expr(
            email_token::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(email_token::Column::UserId.eq(user.id))
        .exec(app.fastvue.db())
        .await
        .unwrap();
    let (status, _) = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(status, 422, "expired");

    // An address an administrator set is not trusted with a reset link.
    let root = app.root_token().await;
    let planted = format!("planted-{}@example.com", uuid::Uuid::new_v4().simple());
    let (status, _) = patch(
        &app,
        &format!("/users/{}", user.id),
        &root,
        json!({ "email": planted }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = forgot(&app, &planted).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Its one mail is the verification link of the change, not a reset link.
    assert_eq!(mail_count(app.fastvue.settings(), &planted), 1);
    let only = wait_for_mail(app.fastvue.settings(), &planted, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(link_in(&only, "/reset-password").is_none(), "{only}");

    // A link mailed before the account was deactivated stops working.
    let (other, _) = app.user_with_role(company, "viewer").await;
    forgot(&app, &other.email).await;
    let token = mailed_token(&app, &other.email).await;
    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/users/{}", other.id),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_and_per_ip() {
    let app = spawn_app().await;
    let address = format!("limited-{}@example.com", uuid::Uuid::new_v4().simple());
    for _ in 0..3 {
        assert_eq!(forgot(&app, &address).await.0, 202);
    }
    let res = app
        .client
        .post(format!("{}/api/v1/auth/password/forgot", app.address))
        .json(&json!({ "email": address }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Other addresses from the same client: 10 per minute in all (4 were asked for).
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(forgot(&app, &format!("other-{i}-{address}")).await.0);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 202, 429, 429]);
}

#[tokio::test]
async fn hostile_reset_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let long = "x".repeat(100_000);
    for (body, want) in [
        (json!({ "token": long, "new_password": NEW_PASSWORD }), 422),
        (json!({ "token": "", "new_password": NEW_PASSWORD }), 422),
        (json!({ "token": "abc" }), 422),
        (
            json!({ "token": "abc", "new_password": NEW_PASSWORD, "x": 1 }),
            422,
        ),
        (json!({ "token": 5, "new_password": NEW_PASSWORD }), 422),
    ] {
        let (status, answer) =
            send(&app, Method::POST, "/auth/password/reset", None, Some(body)).await;
        assert_eq!(status, want, "{answer}");
        assert!(answer["error"]["code"].is_string());
    }
    let (status, _) = forgot(&app, &format!("{long}@example.com")).await;
    assert_eq!(status, 422);
}
