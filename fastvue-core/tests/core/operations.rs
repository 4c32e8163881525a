//! What the ops CLI builds on: naming users and companies, targeted invalidation with
//! its report, comparing a cached entry with the database, the cache overview and the
//! deployment check.
use std::time::Duration;

use fastvue_core::check::{self, Status};
use fastvue_core::permission::CacheKey;
use fastvue_core::permission::{CacheTarget, RedisEntry, RedisOverview};
use fastvue_core::testing::{REDIS_VAR, server_url};
use sea_orm::ConnectionTrait;

use crate::helpers::*;

#[tokio::test]
async fn users_resolve_by_id_username_or_email() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let ann = create_user(fv, "ann").await;
    for reference in [ann.id.to_string(), "ann".into(), " ANN@example.com ".into()] {
        assert_eq!(fv.users().resolve(&reference).await.unwrap().id, ann.id);
    }
    // A username made of digits is found when no id matches it.
    let digits = create_user(fv, "987654").await;
    assert_eq!(fv.users().resolve("987654").await.unwrap().id, digits.id);
    assert_not_found(fv.users().resolve("nobody").await, "user");
}

#[tokio::test]
async fn companies_are_found_by_code_in_any_case() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let found = t.fv.companies().find_by_code(" acme ").await.unwrap();
    assert_eq!(found.map(|c| c.id), Some(acme.id));
    assert!(
        t.fv.companies()
            .find_by_code("NONE")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn invalidate_target_drops_exactly_the_targets_sets_and_refuses_unknown_ids() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let acme = create_company(fv, "ACME").await;
    let ann = create_user(fv, "ann").await.id;
    let bob = create_user(fv, "bob").await.id;
    let role = create_role(fv, Some(acme.id), "editor", &["user.read"]).await;
    assign(fv, ann, acme.id, role.id).await;
    assign(
        fv,
        bob,
        acme.id,
        company_role(fv, acme.id, "viewer").await.id,
    )
    .await;
    effective(fv, ann, acme.id).await;
    effective(fv, bob, acme.id).await;

    let summary = fv
        .authorizer()
        .invalidate_target(CacheTarget::Role(role.id))
        .await
        .unwrap();
    assert_eq!(summary.local, 1);
    assert_eq!(summary.redis, None, "no Redis configured");
    assert!(!summary.published);
    assert!(
        fv.authorizer()
            .l1()
            .get(CacheKey::new(ann, acme.id))
            .is_none()
    );
    assert_cached(fv, bob, acme.id);

    let all = fv
        .authorizer()
        .invalidate_target(CacheTarget::All)
        .await
        .unwrap();
    assert_eq!(all.local, 1);
    for target in [
        CacheTarget::Role(999_999),
        CacheTarget::Group(999_999),
        CacheTarget::Company(999_999),
        CacheTarget::User {
            user_id: 999_999,
            company_id: None,
        },
        CacheTarget::User {
            user_id: ann,
            company_id: Some(999_999),
        },
    ] {
        assert!(
            matches!(
                fv.authorizer().invalidate_target(target).await,
                Err(fastvue_core::Error::NotFound { .. })
            ),
            "{target:?}"
        );
    }
}

#[tokio::test]
async fn inspect_without_redis_reports_the_database_only() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let acme = create_company(fv, "ACME").await;
    let ann = create_user(fv, "ann").await.id;
    let role = create_role(fv, Some(acme.id), "editor", &["user.read", "role.read"]).await;
    assign(fv, ann, acme.id, role.id).await;
    let seen = fv.authorizer().inspect(ann, acme.id).await.unwrap();
    assert_eq!(seen.redis, RedisEntry::Disabled);
    assert_eq!(seen.database, names(&["role.read", "user.read"]));
    assert!(!seen.differs());
    assert_not_found(fv.authorizer().inspect(999_999, acme.id).await, "user");
    assert_not_found(fv.authorizer().inspect(ann, 999_999).await, "company");
    let overview = fv.authorizer().overview().await;
    assert_eq!(overview.redis, RedisOverview::Disabled);
    assert!(overview.enabled);
}

#[tokio::test]
async fn with_redis_inspect_shows_a_stale_entry_and_invalidation_reports_what_redis_dropped() {
    let Some(url) = server_url(REDIS_VAR) else {
        eprintln!("FASTVUE_TEST_REDIS_URL is not set; this Redis test did not run");
        return;
    };
    let t = TestDb::with(&[("REDIS_URL", &url)]).await;
    let replica = t.connect_again(&[("REDIS_URL", &url)]).await;
    let fv = &t.fv;
    for handle in [fv, &replica] {
        let sub = handle
            .authorizer()
            .cache()
            .subscriber()
            .expect("subscriber");
        assert!(sub.wait_subscriptions(1, Duration::from_secs(10)).await);
        // On PostgreSQL a process caches only while its invalidation feed is live: under
        // a loaded machine it may need longer than start-up waited.
        if let Some(feed) = handle.authorizer().cache().feed() {
            assert!(feed.wait_live(Duration::from_secs(10)).await, "feed live");
        }
    }
    let acme = create_company(fv, "ACME").await;
    let ann = create_user(fv, "ann").await.id;
    let role = create_role(fv, Some(acme.id), "editor", &["user.read"]).await;
    assign(fv, ann, acme.id, role.id).await;
    // The replica fills Redis. Under load it may hear the assignment's own invalidation
    // (PostgreSQL feed) only after that fill: it then deletes the entry from Redis, as it
    // must, and keeps Redis out of its fills until that delete is done, while its L1
    // answers the next reads. So drop the replica's L1 entry and fill again until the
    // entry is in Redis, for at most 5 s.
    let key = CacheKey::new(ann, acme.id);
    let mut entry = RedisEntry::Absent;
    for _ in 0..100 {
        replica.authorizer().l1().invalidate_key(key);
        effective(&replica, ann, acme.id).await;
        entry = fv.authorizer().inspect(ann, acme.id).await.unwrap().redis;
        if entry != RedisEntry::Absent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        entry,
        RedisEntry::Cached {
            permissions: names(&["user.read"])
        }
    );
    // A grant no process hears of: Redis and the replica's memory go stale.
    fv.db()
        .execute_unprepared(&format!(
            "INSERT INTO role_permissions (role_id, permission_id) \
             SELECT {}, id FROM permissions WHERE codename = 'group.read'",
            role.id
        ))
        .await
        .unwrap();
    let stale = fv.authorizer().inspect(ann, acme.id).await.unwrap();
    assert!(stale.differs());
    assert_eq!(stale.missing, names(&["group.read"]));
    assert!(stale.stale.is_empty());
    match fv.authorizer().overview().await.redis {
        RedisOverview::Reachable { entries, .. } => assert!(entries >= 1),
        other => panic!("Redis should be reachable: {other:?}"),
    }

    let summary = fv
        .authorizer()
        .invalidate_target(CacheTarget::Role(role.id))
        .await
        .unwrap();
    assert_eq!(summary.redis, Some(1));
    assert!(summary.published);
    assert_eq!(
        fv.authorizer().inspect(ann, acme.id).await.unwrap().redis,
        RedisEntry::Absent
    );
    for _ in 0..100 {
        if replica.authorizer().l1().get(key).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(has(&replica, ann, acme.id, "group.read").await);
}

#[tokio::test]
async fn the_deployment_check_reports_database_migrations_and_budget() {
    let t = TestDb::new().await;
    let report = check::run(t.fv.settings()).await;
    let status = |name: &str| {
        report
            .findings
            .iter()
            .find(|f| f.check == name)
            .map(|f| f.status)
            .unwrap_or_else(|| panic!("no {name} finding: {report:?}"))
    };
    assert_eq!(status("configuration"), Status::Ok);
    assert_eq!(status("database"), Status::Ok);
    assert_eq!(status("migrations"), Status::Ok);
    let budget = match t.backend {
        Backend::Postgres => Status::Ok,
        Backend::Sqlite => Status::Skipped,
    };
    assert_eq!(status("connection budget"), budget);
    assert_eq!(status("invalidation feed"), budget, "{report:?}");
    assert_eq!(status("redis"), Status::Skipped);
    assert!(!report.failed());
}

#[tokio::test]
async fn the_deployment_check_fails_on_an_unreachable_database_and_redis() {
    let settings = fastvue_core::testing::settings(
        "postgres://nobody@127.0.0.1:1/none",
        &[
            ("DB_POOL_TIMEOUT", "1"),
            ("REDIS_URL", "redis://127.0.0.1:1/"),
            ("REDIS_POOL_TIMEOUT", "1"),
        ],
    );
    let report = check::run(&settings).await;
    assert!(report.failed());
    let failed: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Failed)
        .map(|f| f.check)
        .collect();
    assert_eq!(failed, ["database", "redis"]);
    let feed = report
        .findings
        .iter()
        .find(|f| f.check == "invalidation feed")
        .expect("a feed finding");
    assert_eq!(feed.status, Status::Skipped, "{feed:?}");
}
