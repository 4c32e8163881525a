//! `GET /api/v1/auth/me/permissions/stream`: live permission changes over Server-Sent
//! Events, read over real HTTP.
use std::time::Duration;

use fastvue_core::Actor;
use fastvue_core::auth::TokenKind;
use fastvue_core::entity::{permission, role_permission};
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::users::NewUser;
use reqwest::Method;
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app, spawn_app_with, test_redis_url};
use crate::roles::{company, role_in};

const STREAM: &str = "/api/v1/auth/me/permissions/stream";
/// Bound on waiting for one item, so a broken stream fails the test instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

/// One parsed block of the stream.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// `retry: n`.
    Retry(u64),
    /// A comment line (heartbeat).
    Comment(String),
    /// An event with its name, id and JSON data.
    Event {
        name: String,
        id: Option<String>,
        data: Value,
    },
}

/// A client reading one stream.
pub(crate) struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    /// Opens `STREAM{query}` with `token` as the bearer header (if any) and extra headers;
    /// panics unless the answer is 200.
    pub(crate) async fn open(
        app: &TestApp,
        query: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Sse {
        let res = open_raw(app, query, token, headers).await;
        assert_eq!(res.status(), 200, "stream refused");
        Sse {
            res,
            buf: String::new(),
        }
    }

    /// The next block; `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(WAIT, self.res.chunk())
                .await
                .expect("the stream stayed silent too long")
                .expect("stream read");
            match chunk {
                Some(bytes) => self
                    .buf
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                None => return None,
            }
        }
    }

    /// The next event (skipping `retry:`, heartbeats and `menus` events, which
    /// [`Sse::menus`] reads): its name and data.
    async fn event(&mut self) -> (String, Value) {
        loop {
            match self.next().await.expect("the stream ended") {
                Item::Event { name, .. } if name == "menus" => {}
                Item::Event { name, data, .. } => return (name, data),
                Item::Retry(_) | Item::Comment(_) => {}
            }
        }
    }

    /// The data of the next `menus` event (skipping every other item).
    async fn menus(&mut self) -> Value {
        loop {
            match self.next().await.expect("the stream ended") {
                Item::Event { name, data, .. } if name == "menus" => return data,
                _ => {}
            }
        }
    }

    /// Reads events until a `permissions` event whose set satisfies `done`; returns it.
    pub(crate) async fn until_set(&mut self, done: impl Fn(&[String]) -> bool) -> Value {
        loop {
            let (name, data) = self.event().await;
            assert_eq!(name, "permissions", "{data}");
            if done(&codenames(&data)) {
                return data;
            }
        }
    }
}

fn parse(block: &str) -> Item {
    let (mut name, mut id, mut data) = (None, None, None);
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix(':') {
            return Item::Comment(c.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("retry: ") {
            return Item::Retry(v.parse().expect("retry is a number"));
        } else if let Some(v) = line.strip_prefix("event: ") {
            name = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).expect("data is JSON"));
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    Item::Event {
        name: name.expect("event name"),
        id,
        data: data.expect("event data"),
    }
}

pub(crate) fn codenames(data: &Value) -> Vec<String> {
    data["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|v| v.as_str().expect("codename").to_owned())
        .collect()
}

/// A plain client: event streams never end, so they cannot go through the scanning
/// `TestApp::client`, which reads whole bodies (the opening set is scanned by the
/// `GET /auth/me/permissions` tests, which answer the same body).
fn stream_client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn open_raw(
    app: &TestApp,
    query: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = stream_client().get(format!("{}{STREAM}{query}", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request sent")
}

/// A company, a role of it granting `perms`, and a signed-in member holding that role.
struct Member {
    company_id: i64,
    role_id: i64,
    user_id: i64,
    token: String,
}

async fn member(app: &TestApp, perms: &[&str]) -> Member {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let company_id = company(app, &format!("sse{}", &tag[..8])).await;
    let role = role_in(app, Some(company_id), &format!("sse-{}", &tag[..8]), perms).await;
    let user_id = user_in(app, company_id, role.id, &tag[..12]).await;
    let token = app
        .login(&format!("sse-{}", &tag[..12]), USER_PASSWORD)
        .await;
    Member {
        company_id,
        role_id: role.id,
        user_id,
        token,
    }
}

/// A user `sse-{tag}` holding `role_id` in `company_id` (current company).
async fn user_in(app: &TestApp, company_id: i64, role_id: i64, tag: &str) -> i64 {
    let sys = Actor::system();
    let user = app
        .fastvue
        .users()
        .create(
            &sys,
            NewUser {
                email: format!("sse-{tag}@example.com"),
                username: format!("sse-{tag}"),
                password: Some(USER_PASSWORD.to_owned()),
                current_company_id: Some(company_id),
                ..Default::default()
            },
        )
        .await
        .expect("create user");
    app.fastvue
        .assignments()
        .assign(
            &sys,
            user.id,
            NewAssignment {
                company_id,
                role_id,
                is_default: true,
                scope: Default::default(),
            },
        )
        .await
        .expect("assign role");
    user.id
}

/// `method /api/v1{path}` as the superuser acting in `company_id`.
async fn as_root(
    app: &TestApp,
    method: Method,
    path: &str,
    company_id: i64,
    body: Value,
) -> (u16, Value) {
    let token = app.root_token().await;
    let res = app
        .client
        .request(method, format!("{}/api/v1{path}", app.address))
        .bearer_auth(token)
        .header("x-company-id", company_id.to_string())
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn set_role_permissions(app: &TestApp, m: &Member, perms: &[&str]) {
    let (status, body) = as_root(
        app,
        Method::PUT,
        &format!("/roles/{}/permissions", m.role_id),
        m.company_id,
        json!({ "permissions": perms }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Redis for the two-replica test: the test Redis, else the local one (own key prefix:
/// the test settings derive it from the database URL).
fn replica_redis() -> String {
    test_redis_url().unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned())
}

#[tokio::test]
async fn the_stream_opens_with_the_current_set_and_its_etag() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read", "role.read"]).await;
    let rest = app
        .client
        .get(format!("{}/api/v1/auth/me/permissions", app.address))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    let etag = rest.headers()["etag"].to_str().unwrap().to_owned();
    let listed: Value = rest.json().await.unwrap();

    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    let headers = sse.res.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(sse.next().await, Some(Item::Retry(3000)));
    let Some(Item::Event { name, id, data }) = sse.next().await else {
        panic!("no initial event");
    };
    assert_eq!(name, "permissions");
    assert_eq!(id.as_deref(), Some(etag.as_str()));
    assert_eq!(data["etag"], etag.as_str());
    assert_eq!(data["company_id"], m.company_id);
    assert_eq!(data["user_id"], m.user_id);
    assert_eq!(data["permissions"], listed["permissions"]);
    assert_eq!(codenames(&data), ["role.read", "user.read"]);
}

#[tokio::test]
async fn the_stream_announces_the_menu_tag_at_once_and_again_when_an_entry_changes() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let rest = app
        .client
        .get(format!("{}/api/v1/auth/me/menus", app.address))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    let etag = rest.headers()["etag"].to_str().unwrap().to_owned();
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    let first = sse.menus().await;
    assert_eq!(first, json!({"company_id": m.company_id, "etag": etag}));

    // An administrator adds an entry to the company: the member's stream says so.
    let (status, body) = as_root(
        &app,
        Method::POST,
        "/menus",
        m.company_id,
        json!({"company_id": m.company_id, "name": "reports", "path": "/reports",
               "title": "Reports", "permissions": ["user.read"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let next = sse.menus().await;
    assert_ne!(next["etag"], first["etag"]);
    let now = app
        .client
        .get(format!("{}/api/v1/auth/me/menus", app.address))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(now.headers()["etag"].to_str().unwrap(), next["etag"]);

    // A permission change that hides an entry announces the menu too.
    set_role_permissions(&app, &m, &[]).await;
    let hidden = sse.menus().await;
    assert_ne!(hidden["etag"], next["etag"]);
}

#[tokio::test]
async fn a_role_change_through_the_api_reaches_an_open_stream() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    assert_eq!(codenames(&sse.event().await.1), ["user.read"]);
    set_role_permissions(&app, &m, &["user.read", "user.update"]).await;
    let (name, data) = sse.event().await;
    assert_eq!(name, "permissions");
    assert_eq!(codenames(&data), ["user.read", "user.update"]);
    // A role that grants nothing any more empties the set.
    set_role_permissions(&app, &m, &[]).await;
    assert!(codenames(&sse.event().await.1).is_empty());
}

#[tokio::test]
async fn a_role_change_loads_the_woken_streams_sets_together_instead_of_one_miss_each() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let mut tokens = vec![m.token.clone()];
    for i in 0..2 {
        let tag = format!("{}{i}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
        user_in(&app, m.company_id, m.role_id, &tag).await;
        tokens.push(app.login(&format!("sse-{tag}"), USER_PASSWORD).await);
    }
    let mut streams = Vec::new();
    for token in &tokens {
        let mut sse = Sse::open(&app, "", Some(token), &[]).await;
        assert_eq!(codenames(&sse.event().await.1), ["user.read"]);
        streams.push(sse);
    }
    // The superuser's own set in the company, read by the write's guard, cached first.
    let (status, body) = as_root(
        &app,
        Method::GET,
        &format!("/roles/{}", m.role_id),
        m.company_id,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let l1 = app.fastvue.authorizer().l1();
    let misses = l1.stats().misses;

    set_role_permissions(&app, &m, &["user.read", "user.update"]).await;
    for sse in &mut streams {
        assert_eq!(
            codenames(&sse.event().await.1),
            ["user.read", "user.update"]
        );
    }
    // The router loaded the three sets in one statement before waking the streams, so
    // each stream's read of its new set was a hit.
    assert_eq!(l1.stats().misses - misses, 0);
}

#[tokio::test]
async fn a_change_made_on_one_replica_reaches_a_stream_open_on_another() {
    let redis = replica_redis();
    let app = spawn_app_with(&[("REDIS_URL", redis.as_str())]).await;
    // A second server on the same database and the same Redis key space.
    let replica = fastvue_server::startup::Application::build(app.fastvue.settings().clone())
        .await
        .expect("the replica builds");
    let replica_fv = replica.fastvue().clone();
    let replica_address = format!("http://127.0.0.1:{}", replica.port());
    tokio::spawn(replica.run_until_stopped());
    let subscriber = replica_fv
        .authorizer()
        .cache()
        .subscriber()
        .expect("the replica uses Redis");
    assert!(subscriber.wait_subscriptions(1, WAIT).await);

    let m = member(&app, &["user.read"]).await;
    let res = stream_client()
        .get(format!("{replica_address}{STREAM}"))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut sse = Sse {
        res,
        buf: String::new(),
    };
    assert_eq!(codenames(&sse.event().await.1), ["user.read"]);
    // Made on replica A, through its API.
    set_role_permissions(&app, &m, &["user.read", "group.read"]).await;
    let data = sse.until_set(|s| s.len() == 2).await;
    assert_eq!(codenames(&data), ["group.read", "user.read"]);
}

#[tokio::test]
async fn an_admin_cache_invalidation_reaches_the_stream() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    assert_eq!(codenames(&sse.event().await.1), ["user.read"]);
    // A grant written behind the API's back (as a manual database fix would be): the
    // cached set is stale until an operator invalidates it.
    let extra = permission::Entity::find()
        .all(app.fastvue.db())
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.codename == "audit.read")
        .expect("seeded audit.read");
    role_permission::Entity::insert(role_permission::ActiveModel {
        role_id: Set(m.role_id),
        permission_id: Set(extra.id),
    })
    .exec(app.fastvue.db())
    .await
    .unwrap();
    let (status, body) = as_root(
        &app,
        Method::POST,
        "/admin/cache/invalidate",
        m.company_id,
        // A company scope: the notifier walks every open stream of the company.
        json!({ "scope": "company", "id": m.company_id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = sse.until_set(|s| s.len() == 2).await;
    assert_eq!(codenames(&data), ["audit.read", "user.read"]);
}

#[tokio::test]
async fn deactivating_the_user_ends_the_stream_with_revoked() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    sse.event().await;
    let (status, body) = as_root(
        &app,
        Method::PATCH,
        &format!("/users/{}", m.user_id),
        m.company_id,
        json!({ "is_active": false }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sse.event().await,
        ("revoked".to_owned(), json!({ "reason": "user_inactive" }))
    );
    assert_eq!(sse.next().await, None, "the stream is closed");
}

#[tokio::test]
async fn an_expiring_access_token_ends_the_stream_with_expired() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let jwt = app.fastvue.jwt();
    // Issued so that it expires two seconds from now.
    let issued = chrono::Utc::now() - jwt.access_ttl() + chrono::Duration::seconds(2);
    let (token, _) = jwt.issue(m.user_id, TokenKind::Access, issued).unwrap();
    let mut sse = Sse::open(&app, "", Some(&token), &[]).await;
    assert_eq!(sse.event().await.0, "permissions");
    assert_eq!(
        sse.event().await,
        ("expired".to_owned(), json!({ "reason": "token_expired" }))
    );
    assert_eq!(sse.next().await, None, "the stream is closed");
}

#[tokio::test]
async fn heartbeats_arrive_and_the_open_stream_is_counted_in_metrics() {
    let app = spawn_app_with(&[("SSE_HEARTBEAT_SECONDS", "1")]).await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    sse.event().await;
    assert_eq!(sse.menus().await["company_id"], m.company_id);
    assert_eq!(
        sse.next().await,
        Some(Item::Comment("heartbeat".to_owned()))
    );
    assert_eq!(
        sse.next().await,
        Some(Item::Comment("heartbeat".to_owned()))
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let open: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fastvue_sse_streams "))
        .expect("the gauge is exported")
        .parse()
        .unwrap();
    assert!(open >= 1.0, "{open}");
}

#[tokio::test]
async fn opening_more_streams_than_allowed_closes_the_oldest() {
    let app = spawn_app_with(&[("SSE_MAX_STREAMS_PER_USER", "2")]).await;
    let m = member(&app, &["user.read"]).await;
    let mut first = Sse::open(&app, "", Some(&m.token), &[]).await;
    first.event().await;
    let mut second = Sse::open(&app, "", Some(&m.token), &[]).await;
    second.event().await;
    let mut third = Sse::open(&app, "", Some(&m.token), &[]).await;
    third.event().await;
    assert_eq!(
        first.event().await,
        ("closed".to_owned(), json!({ "reason": "too_many_streams" }))
    );
    assert_eq!(first.next().await, None);
    // The two newest stay live.
    set_role_permissions(&app, &m, &["user.read", "role.read"]).await;
    for sse in [&mut second, &mut third] {
        assert_eq!(codenames(&sse.event().await.1), ["role.read", "user.read"]);
    }
}

#[tokio::test]
async fn the_token_may_come_in_the_query_and_a_bad_one_is_a_401() {
    let app = spawn_app().await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, &format!("?access_token={}", m.token), None, &[]).await;
    assert_eq!(codenames(&sse.event().await.1), ["user.read"]);

    for query in ["?access_token=not-a-token", "", "?access_token="] {
        let res = open_raw(&app, query, None, &[]).await;
        assert_eq!(res.status(), 401, "{query}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = res.json().await.unwrap();
        let code = body["error"]["code"].as_str().unwrap();
        assert!(["invalid_token", "unauthorized"].contains(&code), "{body}");
    }
    // A company the caller does not belong to.
    let other = company(&app, "ssenotmine").await;
    let res = open_raw(&app, &format!("?company_id={other}"), Some(&m.token), &[]).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_reconnect_with_the_current_etag_gets_no_initial_event() {
    let app = spawn_app_with(&[("SSE_HEARTBEAT_SECONDS", "1")]).await;
    let m = member(&app, &["user.read"]).await;
    let mut sse = Sse::open(&app, "", Some(&m.token), &[]).await;
    let etag = sse.event().await.1["etag"].as_str().unwrap().to_owned();
    drop(sse);

    let mut again = Sse::open(&app, "", Some(&m.token), &[("last-event-id", &etag)]).await;
    assert_eq!(again.next().await, Some(Item::Retry(3000)));
    // No `permissions` event; the menu's tag still comes (it has no event id).
    let Some(Item::Event { name, .. }) = again.next().await else {
        panic!("no menus event");
    };
    assert_eq!(name, "menus");
    assert_eq!(
        again.next().await,
        Some(Item::Comment("heartbeat".to_owned()))
    );
    // An outdated id gets the current set at once.
    let mut stale = Sse::open(&app, "", Some(&m.token), &[("last-event-id", "\"p0-0-0\"")]).await;
    assert_eq!(stale.next().await, Some(Item::Retry(3000)));
    assert!(matches!(stale.next().await, Some(Item::Event { name, .. }) if name == "permissions"));
}

#[tokio::test]
async fn a_reader_that_never_reads_does_not_delay_the_others() {
    let app = spawn_app_with(&[("SSE_QUEUE_SIZE", "1")]).await;
    // Big sets (about 110 KiB per event, 60 rounds: about 6.6 MiB in all) so that the
    // silent reader's socket, the server's socket buffer (at most 4 MiB by default) and
    // its write buffer fill up and its queue overflows.
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let now = chrono::Utc::now();
    let big: Vec<String> = (0..1200)
        .map(|i| format!("ssebulk{tag}{i:04}{}.{}", "x".repeat(28), "y".repeat(45)))
        .collect();
    permission::Entity::insert_many(big.iter().map(|codename| {
        let (resource, action) = codename.split_once('.').unwrap();
        permission::ActiveModel {
            codename: Set(codename.clone()),
            name: Set(codename.clone()),
            resource: Set(resource.to_owned()),
            action: Set(action.to_owned()),
            is_system: Set(false),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
    }))
    .exec(app.fastvue.db())
    .await
    .unwrap();
    let m = member(&app, &["user.read"]).await;

    // The silent reader: a raw connection with a tiny receive buffer that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let mut silent = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    silent
        .write_all(
            format!(
                "GET {STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
                m.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    let mut live = Sse::open(&app, "", Some(&m.token), &[]).await;
    live.event().await;
    let sys = Actor::system();
    let mut last_etag = String::new();
    const ROUNDS: usize = 60;
    for round in 0..ROUNDS {
        // Every permission but one: a distinct set (and ETag) each round.
        let set: Vec<String> = big
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != round)
            .map(|(_, c)| c.clone())
            .collect();
        app.fastvue
            .roles()
            .set_permissions(&sys, m.role_id, &set)
            .await
            .unwrap();
        // Each change reaches the live reader although the silent one reads nothing.
        let data = live
            .until_set(|s| s.len() == set.len() && !s.contains(&big[round]))
            .await;
        last_etag = data["etag"].as_str().unwrap().to_owned();
    }
    // When the silent reader finally reads, it catches up to the latest set.
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let n = silent.read(&mut buf).await.unwrap();
            assert!(n > 0, "the silent reader's stream ended");
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains(&format!("id: {last_etag}\n")) {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "the silent reader never got the latest set");
    // Its queue overflowed: the changes it could not take were folded into a resync.
    let received = String::from_utf8_lossy(&seen)
        .matches("event: permissions")
        .count();
    assert!(
        received < ROUNDS + 1,
        "{received} events: the reader was never stalled"
    );
}
