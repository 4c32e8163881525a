//! Mailed links end to end over HTTP: invitations (send, look up, accept as a new or an
//! existing account, withdraw, under the escalation rules) and email verification after
//! an address change.
use std::time::Duration;

use fastvue_core::testing::{link_in, wait_for_mail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};
use crate::users::{delete, get, new_company, patch, post, role_of, send};

/// The token of the newest mail to `to` whose link contains `path`.
pub(crate) async fn mailed(app: &TestApp, to: &str, path: &str) -> String {
    let mail = wait_for_mail(app.fastvue.settings(), to, Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no mail to {to}"));
    let link = link_in(&mail, path).unwrap_or_else(|| panic!("no {path} link in {mail}"));
    link.split("token=").nth(1).expect("token").to_owned()
}

async fn public(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    send(app, Method::POST, path, None, Some(body)).await
}

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn an_invitation_link_creates_the_account_with_the_role_once() {
    let app = spawn_app().await;
    let company = new_company(&app, "INV1", None).await;
    let (admin, admin_token) = app.user_with_role(company, "admin").await;
    let viewer = role_of(&app, company, "viewer").await;
    let email = unique_email("newcomer");

    let (status, sent) = post(
        &app,
        &format!("/companies/{company}/invitations"),
        &admin_token,
        json!({ "email": email.to_uppercase(), "role_id": viewer.id }),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["email"], email);
    assert_eq!(sent["invited_by"], admin.id);
    assert!(sent.get("token").is_none() && sent.get("token_hash").is_none());
    let (_, list) = get(
        &app,
        &format!("/companies/{company}/invitations"),
        &admin_token,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let token = mailed(&app, &email, "/accept-invitation?token=").await;
    let (status, offer) = public(&app, "/auth/invitations/lookup", json!({ "token": token })).await;
    assert_eq!(status, 200, "{offer}");
    assert_eq!(offer["company_name"], "Company INV1");
    assert_eq!(offer["account_exists"], false);

    let (status, body) = public(
        &app,
        "/auth/invitations/accept",
        json!({ "token": token, "username": "newcomer", "password": "short" }),
    )
    .await;
    assert_eq!(status, 422, "weak password: {body}");
    let (status, body) = public(
        &app,
        "/auth/invitations/accept",
        json!({ "token": token, "username": "newcomer", "password": USER_PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], true);
    assert_eq!(body["company_id"], company);
    let token_of_new = app.login("newcomer", USER_PASSWORD).await;
    let (_, me) = get(&app, "/auth/me", &token_of_new).await;
    assert_eq!(me["companies"][0]["id"], company);
    assert_eq!(me["companies"][0]["roles"], json!(["viewer"]));
    let (status, _) = public(
        &app,
        "/auth/invitations/accept",
        json!({ "token": token, "username": "again", "password": USER_PASSWORD }),
    )
    .await;
    assert_eq!(status, 422, "the link works once");
    let (_, list) = get(
        &app,
        &format!("/companies/{company}/invitations"),
        &admin_token,
    )
    .await;
    assert!(list.as_array().unwrap().is_empty(), "no longer pending");
}

#[tokio::test]
async fn an_invitation_to_an_existing_account_adds_the_company() {
    let app = spawn_app().await;
    let home = new_company(&app, "INV2A", None).await;
    let other = new_company(&app, "INV2B", None).await;
    let (member, _) = app.user_with_role(home, "viewer").await;
    let (_, admin_token) = app.user_with_role(other, "admin").await;
    let viewer = role_of(&app, other, "viewer").await;
    let (status, _) = post(
        &app,
        &format!("/companies/{other}/invitations"),
        &admin_token,
        json!({ "email": member.email, "role_id": viewer.id }),
    )
    .await;
    assert_eq!(status, 201);
    let token = mailed(&app, &member.email, "/accept-invitation?token=").await;
    let (_, offer) = public(&app, "/auth/invitations/lookup", json!({ "token": token })).await;
    assert_eq!(offer["account_exists"], true);
    let (status, body) = public(&app, "/auth/invitations/accept", json!({ "token": token })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["user_id"], member.id);
    let fresh = app.login(&member.username, USER_PASSWORD).await;
    let (_, me) = get(&app, "/auth/me", &fresh).await;
    let companies: Vec<i64> = me["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(
        companies.contains(&home) && companies.contains(&other),
        "{me}"
    );
}

#[tokio::test]
async fn invitations_follow_the_escalation_rules_when_sent_and_when_accepted() {
    let app = spawn_app().await;
    let company = new_company(&app, "INV3", None).await;
    let (_, viewer_token) = app.user_with_role(company, "viewer").await;
    let (manager, manager_token) = app.user_with_role(company, "manager").await;
    let admin_role = role_of(&app, company, "admin").await;
    let viewer_role = role_of(&app, company, "viewer").await;
    let path = format!("/companies/{company}/invitations");

    let (status, _) = post(
        &app,
        &path,
        &viewer_token,
        json!({ "email": unique_email("x"), "role_id": viewer_role.id }),
    )
    .await;
    assert_eq!(status, 403, "a viewer cannot invite");
    let (status, _) = post(
        &app,
        &path,
        &manager_token,
        json!({ "email": unique_email("x"), "role_id": admin_role.id }),
    )
    .await;
    assert_eq!(status, 403, "nobody invites into a role above itself");
    let other = new_company(&app, "INV3X", None).await;
    let (status, _) = post(
        &app,
        &format!("/companies/{other}/invitations"),
        &manager_token,
        json!({ "email": unique_email("x"), "role_id": viewer_role.id }),
    )
    .await;
    assert_eq!(status, 403, "nor into another tenant");

    // A manager's invitation stops working once the manager is demoted.
    let email = unique_email("late");
    let (status, _) = post(
        &app,
        &path,
        &manager_token,
        json!({ "email": email, "role_id": viewer_role.id }),
    )
    .await;
    assert_eq!(status, 201);
    let token = mailed(&app, &email, "/accept-invitation?token=").await;
    let root = app.root_token().await;
    let (status, _) = patch(
        &app,
        &format!("/users/{}", manager.id),
        &root,
        json!({ "is_active": false }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = public(
        &app,
        "/auth/invitations/accept",
        json!({ "token": token, "username": "late-one", "password": USER_PASSWORD }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_withdrawn_invitation_link_no_longer_works() {
    let app = spawn_app().await;
    let company = new_company(&app, "INV4", None).await;
    let (_, admin_token) = app.user_with_role(company, "admin").await;
    let viewer = role_of(&app, company, "viewer").await;
    let email = unique_email("withdrawn");
    let (_, sent) = post(
        &app,
        &format!("/companies/{company}/invitations"),
        &admin_token,
        json!({ "email": email, "role_id": viewer.id }),
    )
    .await;
    let token = mailed(&app, &email, "/accept-invitation?token=").await;
    let (status, _) = delete(
        &app,
        &format!("/companies/{company}/invitations/{}", sent["id"]),
        &admin_token,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = public(&app, "/auth/invitations/lookup", json!({ "token": token })).await;
    assert_eq!(status, 422);
    for body in [
        json!({ "token": "x".repeat(10_000) }),
        json!({ "token": "" }),
        json!({ "token": token, "admin": true }),
    ] {
        let (status, answer) = public(&app, "/auth/invitations/accept", body).await;
        assert_eq!(status, 422, "{answer}");
    }
}

#[tokio::test]
async fn a_changed_address_is_unproven_until_the_mailed_link_is_followed() {
    let app = spawn_app().await;
    let company = new_company(&app, "VER1", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (status, _) = post(&app, "/auth/email/verify-request", &token, json!({})).await;
    assert_eq!(status, 409, "the first address is proven");

    let new = unique_email("moved");
    let root = app.root_token().await;
    let (status, _) = patch(
        &app,
        &format!("/users/{}", user.id),
        &root,
        json!({ "email": new }),
    )
    .await;
    assert_eq!(status, 200);
    let link = mailed(&app, &new, "/verify-email?token=").await;
    // Unproven: no reset link for it.
    let (status, _) = public(&app, "/auth/password/forgot", json!({ "email": new })).await;
    assert_eq!(status, 202);

    let (status, _) = public(&app, "/auth/email/verify", json!({ "token": "nope" })).await;
    assert_eq!(status, 422);
    let (status, body) = public(&app, "/auth/email/verify", json!({ "token": link })).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = public(&app, "/auth/email/verify", json!({ "token": link })).await;
    assert_eq!(status, 422, "once");
    let proven = app
        .fastvue
        .users()
        .find_by_login(&new)
        .await
        .unwrap()
        .unwrap();
    assert!(!proven.email_unconfirmed);

    // A link to an address the account no longer has proves nothing.
    let newer = unique_email("again");
    let (status, _) = patch(
        &app,
        &format!("/users/{}", user.id),
        &root,
        json!({ "email": newer }),
    )
    .await;
    assert_eq!(status, 200);
    let stale = mailed(&app, &newer, "/verify-email?token=").await;
    let (status, _) = patch(
        &app,
        &format!("/users/{}", user.id),
        &root,
        json!({ "email": unique_email("third") }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = public(&app, "/auth/email/verify", json!({ "token": stale })).await;
    assert_eq!(status, 422);
    // The holder can ask for a new link for the current, unproven address.
    let (status, _) = post(&app, "/auth/email/verify-request", &token, json!({})).await;
    assert_eq!(status, 202);
}
