//! The example service over real HTTP on a fresh database: tokens from fastvue-core are
//! accepted, checks go through the shared permission engine, writes through core
//! services invalidate at once, and changes made behind the core's back need (and get)
//! an explicit invalidation.
use embedded_service::{READER_ROLE, register_permission, router};
use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::service::users::NewUser;
use fastvue_core::testing::{self, REDIS_VAR, TestDatabase};
use reqwest::StatusCode;
use salvo::conn::{Acceptor, TcpListener};
use salvo::prelude::*;
use sea_orm::ConnectionTrait;
use serde_json::json;

struct Service {
    address: String,
    client: reqwest::Client,
    fv: Fastvue,
    _db: TestDatabase,
}

async fn spawn_service() -> Service {
    let db = TestDatabase::create("fastvue_example").await;
    let redis = testing::server_url(REDIS_VAR);
    let vars: Vec<(&str, &str)> = redis.iter().map(|u| ("REDIS_URL", u.as_str())).collect();
    let fv = Fastvue::connect(testing::settings(db.url(), &vars))
        .await
        .expect("connect");
    fv.bootstrap().await.expect("bootstrap");
    register_permission(&fv).await.expect("register");
    register_permission(&fv)
        .await
        .expect("registering twice is fine");
    let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
    let port = acceptor.holdings()[0]
        .local_addr
        .clone()
        .into_std()
        .expect("tcp address")
        .port();
    tokio::spawn(Server::new(acceptor).serve(router(fv.clone())));
    Service {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        fv,
        _db: db,
    }
}

impl Service {
    /// A user (superuser or not) and a fastvue access token for it.
    async fn user(&self, name: &str, superuser: bool) -> (i64, String) {
        let user = self
            .fv
            .users()
            .create(
                &Actor::system(),
                NewUser {
                    email: format!("{name}@example.com"),
                    username: name.to_owned(),
                    password: Some("a-long-password-123".to_owned()),
                    is_superuser: Some(superuser),
                    ..Default::default()
                },
            )
            .await
            .expect("user");
        let tokens = self.fv.tokens().issue(&user).await.expect("tokens");
        (user.id, tokens.access_token)
    }

    async fn company(&self) -> i64 {
        let page = fastvue_core::pagination::PageRequest::new(Some(1), Some(1)).unwrap();
        self.fv
            .companies()
            .list(&Actor::system(), &Default::default(), page)
            .await
            .expect("companies")
            .items[0]
            .id
    }

    async fn reports(&self, token: &str, company: i64) -> StatusCode {
        self.client
            .get(format!("{}/reports", self.address))
            .bearer_auth(token)
            .header("x-company-id", company)
            .send()
            .await
            .expect("sent")
            .status()
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        company: i64,
        body: serde_json::Value,
    ) -> StatusCode {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("x-company-id", company)
            .json(&body)
            .send()
            .await
            .expect("sent")
            .status()
    }
}

#[tokio::test]
async fn reports_need_a_valid_fastvue_token_and_the_report_read_permission() {
    let s = spawn_service().await;
    let company = s.company().await;
    let (_, reader) = s.user("reader", false).await;
    let anonymous = s
        .client
        .get(format!("{}/reports", s.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.reports("not-a-token", company).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.reports(&reader, company).await, StatusCode::FORBIDDEN);
    let (_, root) = s.user("root", true).await;
    assert_eq!(s.reports(&root, company).await, StatusCode::OK);
}

#[tokio::test]
async fn access_granted_and_taken_through_core_services_applies_at_once() {
    let s = spawn_service().await;
    let company = s.company().await;
    let (reader_id, reader) = s.user("reader", false).await;
    let (_, root) = s.user("root", true).await;
    assert_eq!(s.reports(&reader, company).await, StatusCode::FORBIDDEN); // now cached
    let grant = json!({ "user_id": reader_id, "grant": true });
    assert_eq!(
        s.post("/reports/access", &root, company, grant).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.reports(&reader, company).await, StatusCode::OK);
    let revoke = json!({ "user_id": reader_id, "grant": false });
    assert_eq!(
        s.post("/reports/access", &root, company, revoke).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.reports(&reader, company).await, StatusCode::FORBIDDEN);
    // The caller needs role.assign: the reader cannot grant itself anything.
    let again = json!({ "user_id": reader_id, "grant": true });
    assert_eq!(
        s.post("/reports/access", &reader, company, again).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_change_made_outside_the_core_shows_after_an_explicit_invalidation() {
    let s = spawn_service().await;
    let company = s.company().await;
    let (reader_id, reader) = s.user("reader", false).await;
    let (_, root) = s.user("root", true).await;
    let grant = json!({ "user_id": reader_id, "grant": true });
    assert_eq!(
        s.post("/reports/access", &root, company, grant).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.reports(&reader, company).await, StatusCode::OK); // cached
    // Another tool deletes the assignment with plain SQL: the core cannot know.
    let sql = format!(
        "DELETE FROM user_company_roles WHERE user_id = {reader_id} AND role_id IN \
         (SELECT id FROM roles WHERE codename = '{READER_ROLE}')"
    );
    s.fv.db().execute_unprepared(&sql).await.expect("delete");
    assert_eq!(
        s.reports(&reader, company).await,
        StatusCode::OK,
        "still cached"
    );
    let body = json!({ "user_id": reader_id });
    assert_eq!(
        s.post("/cache/invalidate", &root, company, body).await,
        StatusCode::OK
    );
    assert_eq!(s.reports(&reader, company).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_bodies_and_company_headers_get_clear_errors() {
    let s = spawn_service().await;
    let company = s.company().await;
    let (_, root) = s.user("root", true).await;
    let unknown = json!({ "user_id": 1, "grant": true, "role": "admin" });
    assert_eq!(
        s.post("/reports/access", &root, company, unknown).await,
        StatusCode::BAD_REQUEST
    );
    let res = s
        .client
        .get(format!("{}/reports", s.address))
        .bearer_auth(&root)
        .header("x-company-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let missing_user = json!({ "user_id": 999_999, "grant": true });
    assert_eq!(
        s.post("/reports/access", &root, company, missing_user)
            .await,
        StatusCode::NOT_FOUND
    );
}
