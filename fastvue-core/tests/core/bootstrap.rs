//! Seeding and bootstrap: idempotent, at every start.

use fastvue_core::Fastvue;
use fastvue_core::entity::{company, permission, role, role_permission, user};
use fastvue_core::seed::{DEFAULT_COMPANY_CODE, system_permissions};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

async fn counts(fv: &Fastvue) -> [u64; 5] {
    [
        count(fv, permission::Entity).await,
        count(fv, role::Entity).await,
        count(fv, role_permission::Entity).await,
        count(fv, company::Entity).await,
        count(fv, user::Entity).await,
    ]
}

#[tokio::test]
async fn connect_migrates_but_does_not_seed() {
    let t = TestDb::unseeded(&[]).await;
    assert_eq!(counts(&t.fv).await, [0; 5]);
    assert!(t.fv.health().await.database);
}

#[tokio::test]
async fn bootstrap_seeds_permissions_the_default_company_its_roles_and_an_admin() {
    let t = TestDb::unseeded(&[]).await;
    let report = t.fv.bootstrap().await.unwrap();
    let mut perms: Vec<String> = permission::Entity::find()
        .all(t.fv.db())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.codename)
        .collect();
    perms.sort();
    let mut expected = system_permissions();
    expected.sort();
    assert_eq!(perms, expected);
    assert!(
        permission::Entity::find()
            .all(t.fv.db())
            .await
            .unwrap()
            .iter()
            .all(|p| p.is_system && p.is_active)
    );

    let default = company::Entity::find()
        .filter(company::Column::Code.eq(DEFAULT_COMPANY_CODE))
        .one(t.fv.db())
        .await
        .unwrap()
        .expect("default company");
    let mut roles: Vec<String> = role::Entity::find()
        .filter(role::Column::CompanyId.eq(default.id))
        .all(t.fv.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.codename)
        .collect();
    roles.sort();
    assert_eq!(roles, ["admin", "manager", "viewer"]);

    let (username, password) = report
        .generated_admin
        .clone()
        .expect("generated admin on an empty database");
    assert!(report.created_admin);
    assert_eq!(username, "admin");
    assert!(password.len() >= 16, "a strong generated password");
    let admin =
        t.fv.users()
            .authenticate("admin@fastvue.local", &password)
            .await
            .expect("generated password works");
    assert!(admin.is_superuser);
    assert_eq!(admin.current_company_id, Some(default.id));
    assert_eq!(effective(&t.fv, admin.id, default.id).await, expected);
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_reports_the_generated_password_only_once() {
    let t = TestDb::new().await;
    assert!(t.report.as_ref().unwrap().generated_admin.is_some());
    let before = counts(&t.fv).await;
    assert_eq!(before, [30, 3, 30 + 11 + 8, 1, 1]);

    let second = t.fv.bootstrap().await.unwrap();
    assert!(second.generated_admin.is_none(), "never reported again");
    assert!(!second.created_admin);
    assert_eq!(counts(&t.fv).await, before);

    // A restart: a new handle over the same database.
    let restarted = t.connect_again(&[]).await;
    let third = restarted.bootstrap().await.unwrap();
    assert!(third.generated_admin.is_none());
    assert_eq!(counts(&restarted).await, before);
}

#[tokio::test]
async fn bootstrap_keeps_what_operators_changed() {
    let t = TestDb::new().await;
    let default = company::Entity::find()
        .filter(company::Column::Code.eq(DEFAULT_COMPANY_CODE))
        .one(t.fv.db())
        .await
        .unwrap()
        .unwrap();
    let viewer = company_role(&t.fv, default.id, "viewer").await;
    t.fv.roles()
        .set_permissions(&sys(), viewer.id, &names(&["user.read"]))
        .await
        .unwrap();
    t.fv.bootstrap().await.unwrap();
    let perms: Vec<String> =
        t.fv.roles()
            .get(&sys(), viewer.id)
            .await
            .unwrap()
            .permissions;
    assert_eq!(
        perms,
        ["user.read"],
        "bootstrap does not reset a role an operator edited"
    );
}

#[tokio::test]
async fn bootstrap_creates_the_configured_superuser() {
    let env = [
        ("FASTVUE_ADMIN_EMAIL", "Boss@Example.com"),
        ("FASTVUE_ADMIN_PASSWORD", "configured password"),
    ];
    let t = TestDb::with(&env).await;
    let report = t.report.as_ref().unwrap();
    assert!(report.created_admin);
    assert!(
        report.generated_admin.is_none(),
        "nothing generated when a password is configured"
    );
    let boss =
        t.fv.users()
            .authenticate("boss@example.com", "configured password")
            .await
            .unwrap();
    assert!(boss.is_superuser);
    assert!(boss.is_active);
    assert_eq!(boss.username, "Boss");
    assert_eq!(
        count(&t.fv, user::Entity).await,
        1,
        "no generated admin besides it"
    );

    let again = t.connect_again(&env).await.bootstrap().await.unwrap();
    assert!(!again.created_admin);
    assert_eq!(count(&t.fv, user::Entity).await, 1);
}

#[tokio::test]
async fn bootstrap_generates_a_password_for_a_configured_email_without_one() {
    let t = TestDb::with(&[("FASTVUE_ADMIN_EMAIL", "ops@example.com")]).await;
    let (username, password) = t
        .report
        .as_ref()
        .unwrap()
        .generated_admin
        .clone()
        .expect("generated");
    assert_eq!(username, "ops");
    assert!(
        t.fv.users()
            .authenticate("ops@example.com", &password)
            .await
            .unwrap()
            .is_superuser
    );
}

#[tokio::test]
async fn bootstrap_does_not_touch_an_existing_configured_admin() {
    let t = TestDb::with(&[
        ("FASTVUE_ADMIN_EMAIL", "boss@example.com"),
        ("FASTVUE_ADMIN_PASSWORD", "first password"),
    ])
    .await;
    let restarted = t
        .connect_again(&[
            ("FASTVUE_ADMIN_EMAIL", "boss@example.com"),
            ("FASTVUE_ADMIN_PASSWORD", "changed in env"),
        ])
        .await;
    let report = restarted.bootstrap().await.unwrap();
    assert!(!report.created_admin);
    restarted
        .users()
        .authenticate("boss@example.com", "first password")
        .await
        .expect("password kept");
}

#[tokio::test]
async fn configuring_an_admin_email_later_adds_that_superuser() {
    let t = TestDb::new().await;
    let restarted = t
        .connect_again(&[
            ("FASTVUE_ADMIN_EMAIL", "chief@example.com"),
            ("FASTVUE_ADMIN_PASSWORD", "chief password"),
        ])
        .await;
    let report = restarted.bootstrap().await.unwrap();
    assert!(report.created_admin);
    assert!(
        restarted
            .users()
            .authenticate("chief", "chief password")
            .await
            .unwrap()
            .is_superuser
    );
    assert_eq!(count(&restarted, user::Entity).await, 2);
}

#[tokio::test]
async fn configuring_admin_at_some_domain_after_a_generated_admin_still_boots() {
    let t = TestDb::new().await;
    let restarted = t
        .connect_again(&[
            ("FASTVUE_ADMIN_EMAIL", "admin@corp.example"),
            ("FASTVUE_ADMIN_PASSWORD", "corp password"),
        ])
        .await;
    let report = restarted
        .bootstrap()
        .await
        .expect("bootstrap must not fail on a username collision");
    assert!(report.created_admin);
    assert!(
        restarted
            .users()
            .authenticate("admin@corp.example", "corp password")
            .await
            .unwrap()
            .is_superuser
    );
}

#[tokio::test]
async fn any_valid_admin_email_boots() {
    for email in ["ops+admin@example.com", "a@example.com"] {
        let t = TestDb::unseeded(&[
            ("FASTVUE_ADMIN_EMAIL", email),
            ("FASTVUE_ADMIN_PASSWORD", "configured password"),
        ])
        .await;
        let report =
            t.fv.bootstrap()
                .await
                .unwrap_or_else(|e| panic!("{email}: {e:?}"));
        assert!(report.created_admin);
        assert!(
            t.fv.users()
                .authenticate(email, "configured password")
                .await
                .unwrap()
                .is_superuser
        );
    }
}

#[tokio::test]
async fn the_tests_run_on_the_requested_backend() {
    let t = TestDb::unseeded(&[]).await;
    let wanted = match std::env::var("FASTVUE_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    assert_eq!(t.backend, wanted);
    let engine = match sea_orm::ConnectionTrait::get_database_backend(t.fv.db()) {
        sea_orm::DbBackend::Postgres => Backend::Postgres,
        sea_orm::DbBackend::Sqlite => Backend::Sqlite,
        other => panic!("unexpected backend {other:?}"),
    };
    assert_eq!(engine, wanted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_bootstrapping_at_the_same_time_all_start_and_report_one_working_password() {
    for round in 0..5 {
        let t = TestDb::unseeded(&[]).await;
        let other = t.connect_again(&[]).await;
        let third = t.connect_again(&[]).await;
        let (a, b, c) = tokio::join!(t.fv.bootstrap(), other.bootstrap(), third.bootstrap());
        let reports = [
            a.unwrap_or_else(|e| panic!("round {round}: first replica: {e:?}")),
            b.unwrap_or_else(|e| panic!("round {round}: second replica: {e:?}")),
            c.unwrap_or_else(|e| panic!("round {round}: third replica: {e:?}")),
        ];
        assert_eq!(
            counts(&t.fv).await,
            [30, 3, 30 + 11 + 8, 1, 1],
            "round {round}"
        );
        let generated: Vec<&(String, String)> = reports
            .iter()
            .filter_map(|r| r.generated_admin.as_ref())
            .collect();
        for (username, password) in &generated {
            assert!(
                t.fv.users().authenticate(username, password).await.is_ok(),
                "round {round}: a reported admin password must work"
            );
        }
        assert_eq!(
            generated.len(),
            1,
            "round {round}: the password is reported once"
        );
        let created = reports.iter().filter(|r| r.created_admin).count();
        assert_eq!(created, 1, "round {round}: one replica created the admin");
    }
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_all_start_and_seed_once() {
    let db = TestDatabase::create("fastvue_core").await;
    let starts = (0..4).map(|_| {
        let s = settings(db.url(), &[]);
        tokio::spawn(async move {
            let fv = Fastvue::connect(s).await?;
            fv.bootstrap().await?;
            Ok::<_, fastvue_core::Error>(fv)
        })
    });
    let mut handles = Vec::new();
    for start in futures_util::future::join_all(starts).await {
        handles.push(start.expect("no panic").expect("every replica starts"));
    }
    let fv = &handles[0];
    assert_eq!(count(fv, company::Entity).await, 1, "one default company");
    assert_eq!(count(fv, user::Entity).await, 1, "one first superuser");
    assert_eq!(
        count(fv, permission::Entity).await,
        system_permissions().len() as u64
    );
}
