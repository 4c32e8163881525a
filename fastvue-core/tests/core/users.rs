//! Users: create, read, list, update, deactivate, passwords and sign-in.

use fastvue_core::Error;
use fastvue_core::service::audit::AuditFilter;
use fastvue_core::service::users::{NewUser, UserFilter, UserPatch, UserSort};

use crate::helpers::*;

fn new_user(email: &str, username: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        username: username.to_owned(),
        password: Some(PASSWORD.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn creating_a_user_stores_normalized_fields_and_defaults() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let u =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    email: "  Ann.Lee@Example.COM ".into(),
                    username: "ann.lee".into(),
                    password: Some(PASSWORD.into()),
                    full_name: Some("Ann Lee".into()),
                    current_company_id: Some(acme.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(u.email, "ann.lee@example.com");
    assert_eq!(u.username, "ann.lee");
    assert_eq!(u.full_name.as_deref(), Some("Ann Lee"));
    assert!(u.is_active);
    assert!(!u.is_superuser);
    assert_eq!(u.current_company_id, Some(acme.id));
    assert!(u.deleted_at.is_none());
    let phc = u.password_hash.as_deref().expect("password hashed");
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains(PASSWORD));

    assert_eq!(t.fv.users().get(&sys(), u.id).await.unwrap(), u);
}

#[tokio::test]
async fn creating_a_user_without_password_makes_a_provider_only_account() {
    let t = TestDb::new().await;
    let u =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    email: "g@example.com".into(),
                    username: "google".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert!(u.password_hash.is_none());
    assert!(matches!(
        t.fv.users().authenticate("google", "").await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        t.fv.users().authenticate("google", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
}

#[tokio::test]
async fn getting_an_unknown_user_is_not_found() {
    let t = TestDb::new().await;
    assert_not_found(t.fv.users().get(&sys(), 987_654).await, "user");
}

#[tokio::test]
async fn creating_a_user_with_a_taken_email_is_a_conflict_on_email() {
    let t = TestDb::new().await;
    create_user(&t.fv, "ann").await;
    // Same address in another case: emails are stored lower-cased.
    let r =
        t.fv.users()
            .create(&sys(), new_user("ANN@example.com", "other"))
            .await;
    assert_conflict(r, Some("email"));
}

#[tokio::test]
async fn creating_a_user_with_a_taken_username_is_a_conflict_on_username() {
    let t = TestDb::new().await;
    create_user(&t.fv, "ann").await;
    let r =
        t.fv.users()
            .create(&sys(), new_user("someone@example.com", "ann"))
            .await;
    assert_conflict(r, Some("username"));
}

#[tokio::test]
async fn updating_a_user_to_a_taken_email_or_username_is_a_conflict_naming_the_field() {
    let t = TestDb::new().await;
    create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    let r =
        t.fv.users()
            .update(
                &sys(),
                bob.id,
                UserPatch {
                    email: Some("ann@example.com".into()),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("email"));
    let r =
        t.fv.users()
            .update(
                &sys(),
                bob.id,
                UserPatch {
                    username: Some("ann".into()),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("username"));
    assert_eq!(
        t.fv.users().get(&sys(), bob.id).await.unwrap(),
        bob,
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn creating_a_user_with_bad_email_username_and_password_lists_all_three_fields() {
    let t = TestDb::new().await;
    let r =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    email: "not-an-email".into(),
                    username: "ab".into(),
                    password: Some("short".into()),
                    ..Default::default()
                },
            )
            .await;
    let mut fields = invalid_fields(r);
    fields.sort();
    assert_eq!(fields, ["email", "password", "username"]);
}

#[tokio::test]
async fn usernames_with_forbidden_characters_are_rejected() {
    let t = TestDb::new().await;
    for bad in [
        "john doe",
        "john'; drop table users;--",
        "jöhn",
        &"x".repeat(101),
    ] {
        let r =
            t.fv.users()
                .create(&sys(), new_user("j@example.com", bad))
                .await;
        assert_eq!(invalid_fields(r), ["username"], "{bad:?}");
    }
}

#[tokio::test]
async fn creating_a_user_in_an_unknown_company_is_a_validation_error() {
    let t = TestDb::new().await;
    let r =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    current_company_id: Some(424_242),
                    ..new_user("x@example.com", "xavier")
                },
            )
            .await;
    assert_eq!(invalid_fields(r), ["current_company_id"]);
}

#[tokio::test]
async fn listing_users_paginates_with_totals() {
    let t = TestDb::new().await;
    for i in 0..5 {
        create_user(&t.fv, &format!("pager{i}")).await;
    }
    let filter = UserFilter {
        search: Some("pager".into()),
        ..Default::default()
    };
    let p1 =
        t.fv.users()
            .list(&sys(), &filter, page(1, 2))
            .await
            .unwrap();
    assert_eq!((p1.total, p1.page, p1.page_size, p1.pages), (5, 1, 2, 3));
    assert_eq!(p1.items.len(), 2);
    let p3 =
        t.fv.users()
            .list(&sys(), &filter, page(3, 2))
            .await
            .unwrap();
    assert_eq!(p3.items.len(), 1);
    let p4 =
        t.fv.users()
            .list(&sys(), &filter, page(4, 2))
            .await
            .unwrap();
    assert!(p4.items.is_empty());
    assert_eq!(p4.total, 5);

    let mut seen: Vec<String> = Vec::new();
    for n in 1..=3 {
        seen.extend(
            t.fv.users()
                .list(&sys(), &filter, page(n, 2))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|u| u.username),
        );
    }
    seen.sort();
    assert_eq!(
        seen,
        ["pager0", "pager1", "pager2", "pager3", "pager4"],
        "pages neither overlap nor skip"
    );

    // Without a filter the bootstrap admin is counted too.
    let everyone =
        t.fv.users()
            .list(&sys(), &UserFilter::default(), all())
            .await
            .unwrap();
    assert_eq!(everyone.total, 6);
}

#[tokio::test]
async fn searching_users_is_a_case_insensitive_substring_match_on_email_username_and_full_name() {
    let t = TestDb::new().await;
    let ann =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    full_name: Some("Annabel Smith".into()),
                    ..new_user("ann@acme.io", "ann")
                },
            )
            .await
            .unwrap();
    create_user(&t.fv, "bob").await;
    let search = |term: &str| {
        let filter = UserFilter {
            search: Some(term.to_owned()),
            ..Default::default()
        };
        let fv = t.fv.clone();
        async move {
            fv.users()
                .list(&sys(), &filter, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|u| u.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("ACME.IO").await, [ann.id], "email, case-insensitive");
    assert_eq!(
        search("SMITH").await,
        [ann.id],
        "full name, case-insensitive"
    );
    assert_eq!(search("nN").await, [ann.id], "username substring");
    assert!(search("nobody-here").await.is_empty());
}

#[tokio::test]
async fn searching_users_treats_percent_and_underscore_literally() {
    let t = TestDb::new().await;
    let under =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    full_name: Some("Fifty% Off".into()),
                    ..new_user("u@example.com", "a_b")
                },
            )
            .await
            .unwrap();
    create_user(&t.fv, "axb").await;
    create_user(&t.fv, "fifty").await;
    let search = |term: &str| {
        let filter = UserFilter {
            search: Some(term.to_owned()),
            ..Default::default()
        };
        let fv = t.fv.clone();
        async move {
            fv.users()
                .list(&sys(), &filter, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|u| u.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("a_b").await,
        [under.id],
        "_ must not match any character"
    );
    assert_eq!(search("%").await, [under.id], "% must not match everything");
    assert_eq!(search("y% o").await, [under.id]);
    assert!(
        search("\\").await.is_empty(),
        "a backslash is an ordinary character"
    );
}

#[tokio::test]
async fn listing_users_filters_by_active_superuser_and_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let other = create_company(&t.fv, "OTHER").await;
    let ann = create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    let root = create_superuser(&t.fv, "root").await;
    t.fv.users().deactivate(&sys(), bob.id).await.unwrap();
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    assign(&t.fv, ann.id, acme.id, viewer.id).await;
    let other_viewer = company_role(&t.fv, other.id, "viewer").await;
    assign(&t.fv, bob.id, other.id, other_viewer.id).await;

    let ids = |filter: UserFilter| {
        let fv = t.fv.clone();
        async move {
            let mut v: Vec<i64> = fv
                .users()
                .list(&sys(), &filter, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|u| u.id)
                .collect();
            v.sort_unstable();
            v
        }
    };
    let admin =
        t.fv.users()
            .find_by_login("admin")
            .await
            .unwrap()
            .expect("bootstrap admin")
            .id;
    let mut expected = vec![admin, ann.id, root.id];
    expected.sort_unstable();
    assert_eq!(
        ids(UserFilter {
            is_active: Some(true),
            ..Default::default()
        })
        .await,
        expected
    );
    assert_eq!(
        ids(UserFilter {
            is_active: Some(false),
            ..Default::default()
        })
        .await,
        [bob.id]
    );
    let mut supers = vec![admin, root.id];
    supers.sort_unstable();
    assert_eq!(
        ids(UserFilter {
            is_superuser: Some(true),
            ..Default::default()
        })
        .await,
        supers
    );
    assert_eq!(
        ids(UserFilter {
            is_superuser: Some(false),
            ..Default::default()
        })
        .await,
        [ann.id, bob.id]
    );
    assert_eq!(
        ids(UserFilter {
            company_id: Some(acme.id),
            ..Default::default()
        })
        .await,
        [ann.id]
    );
    assert_eq!(
        ids(UserFilter {
            company_id: Some(other.id),
            ..Default::default()
        })
        .await,
        [bob.id]
    );
    assert_eq!(
        ids(UserFilter {
            company_ids: Some(vec![acme.id, other.id]),
            is_active: Some(true),
            ..Default::default()
        })
        .await,
        [ann.id]
    );
}

#[tokio::test]
async fn updating_a_user_changes_only_the_given_fields() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let updated =
        t.fv.users()
            .update(
                &sys(),
                ann.id,
                UserPatch {
                    full_name: Some("Ann Lee".into()),
                    email: Some("Ann.Lee@Example.com".into()),
                    current_company_id: Some(acme.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(updated.full_name.as_deref(), Some("Ann Lee"));
    assert_eq!(updated.email, "ann.lee@example.com");
    assert_eq!(updated.username, "ann");
    assert_eq!(updated.current_company_id, Some(acme.id));
    assert_eq!(
        updated.password_hash, ann.password_hash,
        "password untouched"
    );
    assert!(updated.updated_at >= ann.updated_at);

    let cleared =
        t.fv.users()
            .update(
                &sys(),
                ann.id,
                UserPatch {
                    full_name: Some(String::new()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(cleared.full_name, None, "an empty full name clears it");
    assert_eq!(t.fv.users().get(&sys(), ann.id).await.unwrap(), cleared);
}

#[tokio::test]
async fn updating_an_unknown_user_is_not_found() {
    let t = TestDb::new().await;
    let r =
        t.fv.users()
            .update(
                &sys(),
                55_555,
                UserPatch {
                    full_name: Some("X".into()),
                    ..Default::default()
                },
            )
            .await;
    assert_not_found(r, "user");
}

#[tokio::test]
async fn updating_a_user_with_invalid_fields_lists_them_all() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    let r =
        t.fv.users()
            .update(
                &sys(),
                ann.id,
                UserPatch {
                    email: Some("bad".into()),
                    username: Some("x".into()),
                    password: Some("1234".into()),
                    ..Default::default()
                },
            )
            .await;
    let mut fields = invalid_fields(r);
    fields.sort();
    assert_eq!(fields, ["email", "password", "username"]);
}

#[tokio::test]
async fn deactivating_a_user_keeps_the_row_and_marks_it_inactive() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    let d = t.fv.users().deactivate(&sys(), ann.id).await.unwrap();
    assert!(!d.is_active);
    assert!(d.deleted_at.is_some());
    let stored = t.fv.users().get(&sys(), ann.id).await.expect("row kept");
    assert!(!stored.is_active);
    assert_eq!(stored.email, ann.email);

    let back =
        t.fv.users()
            .update(
                &sys(),
                ann.id,
                UserPatch {
                    is_active: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert!(back.is_active);
    assert!(back.deleted_at.is_none(), "reactivation clears deleted_at");
    t.fv.users()
        .authenticate("ann", PASSWORD)
        .await
        .expect("reactivated user signs in");
}

#[tokio::test]
async fn deactivating_an_unknown_user_is_not_found() {
    let t = TestDb::new().await;
    assert_not_found(t.fv.users().deactivate(&sys(), 31_337).await, "user");
}

#[tokio::test]
async fn after_set_password_only_the_new_password_signs_in() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    t.fv.users()
        .set_password(&sys(), ann.id, "a brand new secret")
        .await
        .unwrap();
    let signed_in =
        t.fv.users()
            .authenticate("ann", "a brand new secret")
            .await
            .unwrap();
    assert_eq!(signed_in.id, ann.id);
    assert!(matches!(
        t.fv.users().authenticate("ann", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
}

#[tokio::test]
async fn set_password_validates_length_and_the_user() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    assert_eq!(
        invalid_fields(t.fv.users().set_password(&sys(), ann.id, "short").await),
        ["password"]
    );
    assert_not_found(
        t.fv.users()
            .set_password(&sys(), 99_999, "long enough pw")
            .await,
        "user",
    );
    t.fv.users()
        .authenticate("ann", PASSWORD)
        .await
        .expect("old password still valid");
}

#[tokio::test]
async fn updating_the_password_through_a_patch_rehashes_it() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    let u =
        t.fv.users()
            .update(
                &sys(),
                ann.id,
                UserPatch {
                    password: Some("patched password".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_ne!(u.password_hash, ann.password_hash);
    t.fv.users()
        .authenticate("ann", "patched password")
        .await
        .unwrap();
    assert!(matches!(
        t.fv.users().authenticate("ann", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
}

#[tokio::test]
async fn authenticating_unknown_user_wrong_password_or_inactive_user_is_invalid_credentials() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    create_user(&t.fv, "bob").await;
    let users = t.fv.users();
    assert!(matches!(
        users.authenticate("nobody", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        users.authenticate("nobody@example.com", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
    assert!(matches!(
        users.authenticate("bob", "wrong password").await,
        Err(Error::InvalidCredentials)
    ));
    t.fv.users().deactivate(&sys(), ann.id).await.unwrap();
    assert!(matches!(
        users.authenticate("ann", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
}

#[tokio::test]
async fn signing_in_by_email_ignores_case_and_records_the_login_time() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    assert!(ann.last_login_at.is_none());
    let by_email =
        t.fv.users()
            .authenticate("  ANN@Example.Com ", PASSWORD)
            .await
            .unwrap();
    assert_eq!(by_email.id, ann.id);
    assert!(by_email.last_login_at.is_some());
    let by_username = t.fv.users().authenticate("ann", PASSWORD).await.unwrap();
    assert_eq!(by_username.id, ann.id);
}

#[tokio::test]
async fn signing_in_upgrades_a_hash_made_with_outdated_parameters() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    let stronger = t
        .connect_again(&[("ARGON2_ITERATIONS", "2"), ("ARGON2_MEMORY_KIB", "16")])
        .await;
    let old = ann.password_hash.clone().unwrap();
    assert!(stronger.hasher().needs_rehash(&old));
    let signed_in = stronger
        .users()
        .authenticate("ann", PASSWORD)
        .await
        .unwrap();
    let new = signed_in.password_hash.clone().unwrap();
    assert_ne!(new, old);
    assert!(!stronger.hasher().needs_rehash(&new));
    assert_eq!(
        stronger
            .users()
            .get(&sys(), ann.id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some(new.as_str())
    );
    stronger
        .users()
        .authenticate("ann", PASSWORD)
        .await
        .expect("the upgraded hash verifies");
}

#[tokio::test]
async fn the_password_hash_never_appears_in_a_serialized_user_nor_in_audit_rows() {
    let t = TestDb::new().await;
    let ann = create_user(&t.fv, "ann").await;
    let phc = ann.password_hash.clone().unwrap();
    let json = serde_json::to_string(&ann).unwrap();
    assert!(!json.contains("password"), "{json}");
    assert!(!json.contains(&phc));
    assert!(!json.contains("$argon2"));

    t.fv.users()
        .set_password(&sys(), ann.id, "second password")
        .await
        .unwrap();
    t.fv.users()
        .update(
            &sys(),
            ann.id,
            UserPatch {
                password: Some("third password".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.users()
        .authenticate("ann", "third password")
        .await
        .unwrap();
    t.fv.users().deactivate(&sys(), ann.id).await.unwrap();
    let current =
        t.fv.users()
            .get(&sys(), ann.id)
            .await
            .unwrap()
            .password_hash
            .unwrap();

    let rows = audit_rows(&t.fv, AuditFilter::default()).await;
    assert!(rows.iter().filter(|r| r.entity_type == "user").count() >= 4);
    for row in rows {
        let text = serde_json::to_string(&row).unwrap();
        for needle in [
            "$argon2",
            "password_hash",
            phc.as_str(),
            current.as_str(),
            PASSWORD,
            "third password",
        ] {
            assert!(!text.contains(needle), "audit row leaks {needle}: {text}");
        }
    }
}

#[tokio::test]
async fn a_sorted_list_pages_through_every_user_once_in_order_both_ways() {
    let t = TestDb::new().await;
    // Names out of id order, and two equal full names (the id breaks the tie).
    for (name, full) in [
        ("sort-c", Some("Same")),
        ("sort-a", None),
        ("sort-d", Some("Same")),
        ("sort-b", Some("Alpha")),
        ("sort-e", None),
    ] {
        let u = create_user(&t.fv, name).await;
        if let Some(full) = full {
            t.fv.users()
                .update(
                    &sys(),
                    u.id,
                    UserPatch {
                        full_name: Some(full.into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
    }
    let read = |sort: &str| {
        let fv = t.fv.clone();
        let sort = UserSort::parse(sort).unwrap();
        async move {
            let mut out = Vec::new();
            for n in 1..=3 {
                let filter = UserFilter {
                    search: Some("sort-".into()),
                    sort,
                    ..Default::default()
                };
                let p = fv.users().list(&sys(), &filter, page(n, 2)).await.unwrap();
                out.extend(p.items.into_iter().map(|u| u.username));
            }
            out
        }
    };
    assert_eq!(
        read("username").await,
        ["sort-a", "sort-b", "sort-c", "sort-d", "sort-e"]
    );
    assert_eq!(
        read("-username").await,
        ["sort-e", "sort-d", "sort-c", "sort-b", "sort-a"]
    );
    // No full name sorts first ascending, last descending; ties go by id.
    assert_eq!(
        read("full_name").await,
        ["sort-a", "sort-e", "sort-b", "sort-c", "sort-d"]
    );
    assert_eq!(
        read("-full_name").await,
        ["sort-d", "sort-c", "sort-b", "sort-e", "sort-a"]
    );
    assert_eq!(read("id").await, read("created_at").await);

    assert_eq!(invalid_fields(UserSort::parse("password_hash")), ["sort"]);
    let cursor = fastvue_core::pagination::CursorRequest::new("", Some(2)).unwrap();
    let scrolled =
        t.fv.users()
            .list_after(
                &sys(),
                &UserFilter {
                    sort: UserSort::parse("-email").unwrap(),
                    ..Default::default()
                },
                cursor,
            )
            .await;
    assert_eq!(invalid_fields(scrolled), ["sort"]);
}

/// The `users` row version, read as any reader does.
async fn users_version(fv: &fastvue_core::Fastvue) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = fv
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            fv.db().get_database_backend(),
            "SELECT version FROM row_versions WHERE name = 'users'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "version").unwrap()
}

async fn raw(fv: &fastvue_core::Fastvue, sql: &str) {
    use sea_orm::ConnectionTrait;
    fv.db().execute_unprepared(sql).await.unwrap();
}

async fn total(fv: &fastvue_core::Fastvue, filter: &UserFilter) -> u64 {
    fv.users().list(&sys(), filter, all()).await.unwrap().total
}

#[tokio::test]
async fn a_remembered_users_total_follows_writes_made_outside_the_services() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let u = create_user(&t.fv, "outsider").await;
    let active = UserFilter {
        is_active: Some(true),
        ..Default::default()
    };
    let searched = UserFilter {
        search: Some("renamed".into()),
        ..Default::default()
    };
    let members = UserFilter {
        company_id: Some(acme.id),
        ..Default::default()
    };
    let before = (
        total(&t.fv, &active).await,
        total(&t.fv, &searched).await,
        total(&t.fv, &members).await,
    );
    assert_eq!(before.1, 0);
    // Asked twice, the remembered totals answer the same.
    assert_eq!(total(&t.fv, &active).await, before.0);

    // Signing in (last_login_at) is not a change a list filters on.
    let v = users_version(&t.fv).await;
    raw(
        &t.fv,
        &format!(
            "UPDATE users SET last_login_at = updated_at WHERE id = {}",
            u.id
        ),
    )
    .await;
    assert_eq!(
        users_version(&t.fv).await,
        v,
        "last_login_at moved the version"
    );

    // An operator's own SQL, not through a service, still moves every total it changes.
    raw(
        &t.fv,
        &format!(
            "UPDATE users SET full_name = 'Renamed Person' WHERE id = {}",
            u.id
        ),
    )
    .await;
    assert!(users_version(&t.fv).await > v);
    assert_eq!(total(&t.fv, &searched).await, 1);
    raw(
        &t.fv,
        &format!("UPDATE users SET is_active = false WHERE id = {}", u.id),
    )
    .await;
    assert_eq!(total(&t.fv, &active).await, before.0 - 1);
    raw(
        &t.fv,
        &format!(
            "INSERT INTO user_company_roles (user_id, company_id, role_id, is_default, is_active, assigned_at, scope) \
             SELECT {}, {}, id, false, true, CURRENT_TIMESTAMP, 'company' FROM roles WHERE company_id = {} LIMIT 1",
            u.id, acme.id, acme.id
        ),
    )
    .await;
    assert_eq!(total(&t.fv, &members).await, before.2 + 1);
    raw(
        &t.fv,
        &format!("DELETE FROM user_company_roles WHERE user_id = {}", u.id),
    )
    .await;
    assert_eq!(total(&t.fv, &members).await, before.2);
}

#[tokio::test]
async fn an_account_created_inactive_is_stamped_as_deactivated_and_reactivation_clears_the_stamp() {
    let t = TestDb::new().await;
    let created =
        t.fv.users()
            .create(
                &sys(),
                NewUser {
                    email: "ina@example.com".into(),
                    username: "ina".into(),
                    is_active: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert!(!created.is_active);
    assert!(created.deleted_at.is_some(), "created inactive, so stamped");
    let back =
        t.fv.users()
            .update(
                &sys(),
                created.id,
                UserPatch {
                    is_active: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert!(back.is_active);
    assert_eq!(back.deleted_at, None);
}
