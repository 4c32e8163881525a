//! Two-factor sign-in over HTTP: enrolment, the second step with a code or a recovery
//! code, replay and guessing limits, company-required enrolment, disabling, and an
//! administrator's reset.
use fastvue_core::Actor;
use fastvue_core::service::audit::AuditFilter;
use reqwest::Method;
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

use crate::helpers::{ROOT_LOGIN, ROOT_PASSWORD, TestApp, USER_PASSWORD, spawn_app};
use crate::users::{delete, get, new_company, patch, post, send};

/// The authenticator's code for `secret` (base32), `steps` steps of 30 s from now.
pub(crate) fn code(secret: &str, steps: i64) -> String {
    let totp = Builder::new()
        .with_secret(Secret::try_from_base32(secret).expect("base32 secret"))
        .build_noncompliant();
    let now = chrono::Utc::now().timestamp() + steps * 30;
    totp.generate(u64::try_from(now).expect("after 1970"))
        .to_string()
}

/// Enrols the holder of `token`: setup, then confirm with the current code. Returns the
/// secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let (status, setup) = post(app, "/auth/2fa/setup", token, json!({})).await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    let (status, body) = post(
        app,
        "/auth/2fa/confirm",
        token,
        json!({ "code": code(&secret, 0) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    (secret, codes)
}

/// `POST /auth/login` without a token; the status and body.
pub(crate) async fn first_step(app: &TestApp, login: &str, password: &str) -> (u16, Value) {
    send(
        app,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({ "username": login, "password": password })),
    )
    .await
}

/// The `mfa_token` of a first step that asks for a code.
async fn pending_token(app: &TestApp, login: &str) -> String {
    let (status, body) = first_step(app, login, USER_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["enrol_required"], false, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn second_step(app: &TestApp, body: Value) -> (u16, Value) {
    send(app, Method::POST, "/auth/login/2fa", None, Some(body)).await
}

async fn audit_actions(app: &TestApp, user_id: i64) -> Vec<String> {
    app.fastvue
        .audit_logs()
        .list(
            &Actor::system(),
            &AuditFilter {
                entity_type: Some("user".into()),
                entity_id: Some(user_id),
                ..Default::default()
            },
            fastvue_core::pagination::PageRequest::new(Some(1), Some(100)).expect("page"),
        )
        .await
        .expect("audit rows")
        .items
        .into_iter()
        .map(|r| r.action)
        .collect()
}

#[tokio::test]
async fn enrolling_then_signing_in_asks_for_a_code_and_a_fresh_code_completes_it() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA1", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;

    let (status, setup) = post(&app, "/auth/2fa/setup", &token, json!({})).await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=fastvue-rs"), "{uri}");
    assert!(
        setup["qr_svg"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let (_, status_body) = get(&app, "/auth/2fa", &token).await;
    assert_eq!(status_body["pending"], true);
    assert_eq!(status_body["enabled"], false);
    // A pending setup changes nothing at sign-in.
    let (_, body) = first_step(&app, &user.username, USER_PASSWORD).await;
    assert!(body["access_token"].is_string(), "{body}");

    let (status, body) = post(
        &app,
        "/auth/2fa/confirm",
        &token,
        json!({ "code": "000000" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "code");
    let first = code(&secret, 0);
    let (status, body) = post(&app, "/auth/2fa/confirm", &token, json!({ "code": first })).await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let (_, status_body) = get(&app, "/auth/2fa", &token).await;
    assert_eq!(status_body["enabled"], true, "{status_body}");
    assert_eq!(status_body["recovery_codes_left"], 10);
    let (status, _) = post(&app, "/auth/2fa/setup", &token, json!({})).await;
    assert_eq!(status, 409, "setup again while on");

    // The password alone no longer signs in.
    let mfa = pending_token(&app, &user.username).await;
    // The code that confirmed the enrolment was spent; the next step's code works.
    let (status, body) = second_step(&app, json!({ "mfa_token": mfa, "code": first })).await;
    assert_eq!(status, 422, "a spent code is refused: {body}");
    let next = code(&secret, 1);
    let (status, body) = second_step(&app, json!({ "mfa_token": mfa, "code": next })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(body["user"]["id"], user.id);
    let (status, _) = get(&app, "/auth/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    // The token was spent with its sign-in.
    let (status, body) = second_step(&app, json!({ "mfa_token": mfa, "code": next })).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_mfa_token");
    // The same code with a new sign-in is a replay.
    let mfa = pending_token(&app, &user.username).await;
    let (status, _) = second_step(&app, json!({ "mfa_token": mfa, "code": next })).await;
    assert_eq!(status, 422, "a code is accepted once");
    assert!(
        audit_actions(&app, user.id)
            .await
            .contains(&"enable_2fa".to_owned())
    );
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA2", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (_, codes) = enrol(&app, &token).await;

    let mfa = pending_token(&app, &user.username).await;
    // Typed in upper case, without dashes: still the code.
    let typed = codes[3].replace('-', "").to_uppercase();
    let (status, body) =
        second_step(&app, json!({ "mfa_token": mfa, "recovery_code": typed })).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    let (_, status_body) = get(&app, "/auth/2fa", &fresh).await;
    assert_eq!(status_body["recovery_codes_left"], 9);

    let mfa = pending_token(&app, &user.username).await;
    let (status, body) =
        second_step(&app, json!({ "mfa_token": mfa, "recovery_code": codes[3] })).await;
    assert_eq!(status, 422, "spent: {body}");
    assert_eq!(body["error"]["details"][0]["field"], "recovery_code");
    let (status, _) =
        second_step(&app, json!({ "mfa_token": mfa, "recovery_code": codes[4] })).await;
    assert_eq!(
        status, 200,
        "another code still works with the same sign-in"
    );
}

#[tokio::test]
async fn wrong_codes_end_the_sign_in_and_then_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA3", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (secret, _) = enrol(&app, &token).await;
    let wrong = if code(&secret, 1) == "123456" {
        "654321"
    } else {
        "123456"
    };

    let mfa = pending_token(&app, &user.username).await;
    for _ in 0..5 {
        let (status, _) = second_step(&app, json!({ "mfa_token": mfa, "code": wrong })).await;
        assert_eq!(status, 422);
    }
    // Five wrong codes spent the sign-in.
    let (status, body) =
        second_step(&app, json!({ "mfa_token": mfa, "code": code(&secret, 1) })).await;
    assert_eq!(status, 401, "{body}");
    // And the account's attempts are used up, whichever sign-in asks: even the right
    // code waits.
    let mfa = pending_token(&app, &user.username).await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login/2fa", app.address))
        .json(&json!({ "mfa_token": mfa, "code": code(&secret, 1) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_company_that_requires_two_factor_sends_its_members_to_enrol_before_tokens() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA4", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let root = app.root_token().await;
    let (status, body) = patch(
        &app,
        &format!("/companies/{company}"),
        &root,
        json!({ "require_2fa": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["require_2fa"], true);

    let (status, body) = first_step(&app, &user.username, USER_PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["enrol_required"], true, "{body}");
    assert!(body.get("access_token").is_none());
    let mfa = body["mfa_token"].as_str().unwrap().to_owned();
    // An enrolment token is not a code token.
    let (status, _) = second_step(&app, json!({ "mfa_token": mfa, "code": "123456" })).await;
    assert_eq!(status, 401);

    let (status, setup) = send(
        &app,
        Method::POST,
        "/auth/login/2fa/setup",
        None,
        Some(json!({ "mfa_token": mfa })),
    )
    .await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let (status, body) = send(
        &app,
        Method::POST,
        "/auth/login/2fa/confirm",
        None,
        Some(json!({ "mfa_token": mfa, "code": code(&secret, 0) })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);
    let access = body["access_token"].as_str().unwrap();
    let (status, _) = get(&app, "/auth/me", access).await;
    assert_eq!(status, 200);
    // From now on the member signs in with a code.
    let mfa = pending_token(&app, &user.username).await;
    let (status, _) =
        second_step(&app, json!({ "mfa_token": mfa, "code": code(&secret, 1) })).await;
    assert_eq!(status, 200);
    // Users of other companies are not concerned.
    let (status, body) = first_step(&app, ROOT_LOGIN, ROOT_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(body["access_token"].is_string(), "{body}");
}

#[tokio::test]
async fn turning_two_factor_off_needs_the_password_and_a_code() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA5", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (secret, codes) = enrol(&app, &token).await;

    let cases = [
        json!({ "password": "wrong-password-1", "code": code(&secret, 1) }),
        json!({ "password": USER_PASSWORD }),
        json!({ "password": USER_PASSWORD, "code": "1", "recovery_code": codes[0] }),
        json!({ "password": USER_PASSWORD, "code": "999999", "extra": 1 }),
    ];
    for body in cases {
        let (status, answer) = post(&app, "/auth/2fa/disable", &token, body.clone()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
    }
    let (_, still) = get(&app, "/auth/2fa", &token).await;
    assert_eq!(still["enabled"], true);
    let (status, _) = post(
        &app,
        "/auth/2fa/disable",
        &token,
        json!({ "password": USER_PASSWORD, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = first_step(&app, &user.username, USER_PASSWORD).await;
    assert!(body["access_token"].is_string(), "{body}");
    let (_, off) = get(&app, "/auth/2fa", &token).await;
    assert_eq!(off["enabled"], false);
    assert_eq!(off["recovery_codes_left"], 0);
    assert!(
        audit_actions(&app, user.id)
            .await
            .contains(&"disable_2fa".to_owned())
    );
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA6", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (secret, old) = enrol(&app, &token).await;
    let (status, body) = post(
        &app,
        "/auth/2fa/recovery-codes",
        &token,
        json!({ "code": code(&secret, 1) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    let mfa = pending_token(&app, &user.username).await;
    let (status, _) = second_step(&app, json!({ "mfa_token": mfa, "recovery_code": old[0] })).await;
    assert_eq!(status, 422, "old codes are gone");
    let (status, _) = second_step(&app, json!({ "mfa_token": mfa, "recovery_code": new[0] })).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_administrator_who_dominates_the_user_can_reset_its_two_factor_and_it_is_audited() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA7", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (admin, admin_token) = app.user_with_role(company, "admin").await;
    let (_, viewer_token) = app.user_with_role(company, "viewer").await;
    enrol(&app, &token).await;

    let path = format!("/users/{}/2fa", user.id);
    let (status, _) = delete(&app, &path, &viewer_token).await;
    assert_eq!(status, 403, "a viewer may not");
    let (status, _) = delete(&app, &format!("/users/{}/2fa", admin.id), &admin_token).await;
    assert_eq!(status, 403, "not your own");
    let root_id = app
        .fastvue
        .users()
        .find_by_login(ROOT_LOGIN)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (status, _) = delete(&app, &format!("/users/{root_id}/2fa"), &admin_token).await;
    assert_eq!(status, 404, "the superuser is not in the admin's companies");
    let other = new_company(&app, "TFA7X", None).await;
    let (stranger, _) = app.user_with_role(other, "viewer").await;
    let (status, _) = delete(&app, &format!("/users/{}/2fa", stranger.id), &admin_token).await;
    assert_eq!(status, 404, "not another tenant's");

    let (status, _) = delete(&app, &path, &admin_token).await;
    assert_eq!(status, 204);
    let (_, body) = first_step(&app, &user.username, USER_PASSWORD).await;
    assert!(body["access_token"].is_string(), "{body}");
    assert!(
        audit_actions(&app, user.id)
            .await
            .contains(&"reset_2fa".to_owned())
    );
}

#[tokio::test]
async fn hostile_second_steps_get_clear_errors() {
    let app = spawn_app().await;
    let company = new_company(&app, "TFA8", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (secret, codes) = enrol(&app, &token).await;
    let mfa = pending_token(&app, &user.username).await;

    let long = "x".repeat(100_000);
    let cases = [
        (json!({ "mfa_token": long, "code": "123456" }), 401),
        (json!({ "mfa_token": "", "code": "123456" }), 401),
        (json!({ "mfa_token": "nope", "code": "123456" }), 401),
        (json!({ "mfa_token": mfa }), 422),
        (
            json!({ "mfa_token": mfa, "code": "123456", "recovery_code": codes[0] }),
            422,
        ),
        (json!({ "mfa_token": mfa, "code": "12345a" }), 422),
        (json!({ "mfa_token": mfa, "code": long }), 422),
        (json!({ "mfa_token": mfa, "recovery_code": long }), 422),
        (json!({ "mfa_token": mfa, "code": 123456 }), 422),
        (
            json!({ "mfa_token": mfa, "code": "123456", "admin": true }),
            422,
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = second_step(&app, body.clone()).await;
        let shown: String = body.to_string().chars().take(120).collect();
        assert_eq!(status, want, "{shown} -> {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    // Nothing above spent the sign-in beyond its limit of wrong codes: the right code
    // still works (three wrong codes were counted).
    let (status, body) =
        second_step(&app, json!({ "mfa_token": mfa, "code": code(&secret, 1) })).await;
    assert_eq!(status, 200, "{body}");
}
