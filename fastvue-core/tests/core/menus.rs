//! Menus: each user's tree in a company, and the rules of administering entries.

use fastvue_core::Error;
use fastvue_core::entity::menu::PermissionMode;
use fastvue_core::service::menus::{
    MAX_MENU_DEPTH, MenuFilter, MenuNode, MenuPatch, MenuTree, NewMenu,
};

use crate::helpers::*;

fn entry(company_id: Option<i64>, name: &str, perms: &[&str]) -> NewMenu {
    NewMenu {
        company_id,
        name: name.to_owned(),
        path: Some(format!("/{name}")),
        title: format!("Title {name}"),
        permissions: names(perms),
        ..Default::default()
    }
}

/// The names of a tree, depth first, children indented by `>`.
fn flat(tree: &MenuTree) -> Vec<String> {
    fn walk(nodes: &[MenuNode], prefix: &str, out: &mut Vec<String>) {
        for n in nodes {
            out.push(format!("{prefix}{}", n.name));
            walk(&n.children, &format!("{prefix}>"), out);
        }
    }
    let mut out = Vec::new();
    walk(&tree.items, "", &mut out);
    out
}

/// A patch moving an entry under `parent`.
fn under(parent: i64) -> MenuPatch {
    MenuPatch {
        parent_id: Some(parent),
        ..Default::default()
    }
}

/// How many entries the system lists, global ones included.
async fn total(t: &TestDb) -> u64 {
    let everything = MenuFilter {
        include_global: true,
        ..Default::default()
    };
    t.fv.menus()
        .list(&sys(), &everything, all())
        .await
        .unwrap()
        .total
}

async fn menu_of(t: &TestDb, user_id: i64, company_id: i64) -> MenuTree {
    let a = acting(&t.fv, user_id, Some(company_id)).await;
    t.fv.menus().visible(&a, None).await.unwrap()
}

#[tokio::test]
async fn a_viewer_sees_the_seeded_entries_it_holds_and_an_admin_sees_all() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let viewer = create_user(&t.fv, "vera").await;
    grant_role(&t.fv, viewer.id, acme.id, "viewer").await;
    let admin = create_user(&t.fv, "adam").await;
    grant_role(&t.fv, admin.id, acme.id, "admin").await;

    let seen = flat(&menu_of(&t, viewer.id, acme.id).await);
    // A viewer holds every *.read permission: every page, none hidden.
    assert!(seen.contains(&"users".to_owned()), "{seen:?}");
    assert!(
        seen.contains(&"menus".to_owned()),
        "menu.read is seeded: {seen:?}"
    );
    assert!(seen.contains(&"account".to_owned()) && seen.contains(&">sessions".to_owned()));
    assert_eq!(seen, flat(&menu_of(&t, admin.id, acme.id).await));

    // Without any permission: only the entries open to every member.
    let bare = create_user(&t.fv, "bare").await;
    let r = create_role(&t.fv, Some(acme.id), "nothing", &[]).await;
    assign(&t.fv, bare.id, acme.id, r.id).await;
    assert_eq!(
        flat(&menu_of(&t, bare.id, acme.id).await),
        ["dashboard", "account", ">sessions", ">profile"]
    );
}

#[tokio::test]
async fn an_entry_shows_by_any_or_all_of_its_permissions_and_hides_its_children() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let u = create_user(&t.fv, "ann").await;
    let r = create_role(&t.fv, Some(acme.id), "reader", &["user.read"]).await;
    assign(&t.fv, u.id, acme.id, r.id).await;
    let menus = t.fv.menus();
    let any = menus
        .create(
            &sys(),
            entry(Some(acme.id), "reports", &["user.read", "audit.read"]),
        )
        .await
        .unwrap();
    let all = menus
        .create(
            &sys(),
            NewMenu {
                permission_mode: Some(PermissionMode::All),
                ..entry(Some(acme.id), "finance", &["user.read", "audit.read"])
            },
        )
        .await
        .unwrap();
    menus
        .create(
            &sys(),
            NewMenu {
                parent_id: Some(all.id),
                ..entry(Some(acme.id), "ledger", &[])
            },
        )
        .await
        .unwrap();
    menus
        .create(
            &sys(),
            NewMenu {
                parent_id: Some(any.id),
                ..entry(Some(acme.id), "monthly", &[])
            },
        )
        .await
        .unwrap();
    let seen = flat(&menu_of(&t, u.id, acme.id).await);
    assert!(seen.contains(&"reports".to_owned()) && seen.contains(&">monthly".to_owned()));
    assert!(
        !seen
            .iter()
            .any(|s| s.ends_with("finance") || s.ends_with("ledger")),
        "{seen:?}"
    );

    // Another company's entries never show here.
    let other = create_company(&t.fv, "OTHER").await;
    menus
        .create(&sys(), entry(Some(other.id), "elsewhere", &[]))
        .await
        .unwrap();
    assert!(!flat(&menu_of(&t, u.id, acme.id).await).contains(&"elsewhere".to_owned()));
}

#[tokio::test]
async fn the_tree_and_its_etag_follow_permission_changes_at_once() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let u = create_user(&t.fv, "ann").await;
    let r = create_role(&t.fv, Some(acme.id), "auditor", &["audit.read"]).await;
    assign(&t.fv, u.id, acme.id, r.id).await;
    let before = menu_of(&t, u.id, acme.id).await;
    assert!(flat(&before).contains(&"audit".to_owned()));
    assert_eq!(
        before,
        menu_of(&t, u.id, acme.id).await,
        "stable when nothing changes"
    );

    t.fv.roles()
        .set_permissions(&sys(), r.id, &[])
        .await
        .unwrap();
    let after = menu_of(&t, u.id, acme.id).await;
    assert!(!flat(&after).contains(&"audit".to_owned()));
    assert_ne!(before.etag, after.etag);

    // Editing an entry changes the tag too.
    let mine =
        t.fv.menus()
            .create(&sys(), entry(Some(acme.id), "mine", &[]))
            .await
            .unwrap();
    let with = menu_of(&t, u.id, acme.id).await;
    assert_ne!(with.etag, after.etag);
    t.fv.menus()
        .update(
            &sys(),
            mine.id,
            MenuPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(menu_of(&t, u.id, acme.id).await.etag, after.etag);
}

#[tokio::test]
async fn a_non_superuser_gates_and_edits_entries_only_within_its_own_permissions() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let editor = create_user(&t.fv, "eddie").await;
    let r = create_role(
        &t.fv,
        Some(acme.id),
        "menu-editor",
        &[
            "menu.read",
            "menu.create",
            "menu.update",
            "menu.delete",
            "user.read",
        ],
    )
    .await;
    assign(&t.fv, editor.id, acme.id, r.id).await;
    let a = acting(&t.fv, editor.id, Some(acme.id)).await;
    let menus = t.fv.menus();

    let err = menus
        .create(&a, entry(Some(acme.id), "audit2", &["audit.read"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(ref m) if m.contains("audit.read")),
        "{err:?}"
    );
    let ok = menus
        .create(&a, entry(Some(acme.id), "people", &["user.read"]))
        .await
        .unwrap();
    // Re-gating it on a permission it lacks is refused; nothing changes.
    let err = menus
        .update(
            &a,
            ok.id,
            MenuPatch {
                permissions: Some(names(&["audit.read"])),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert_eq!(menus.get(&sys(), ok.id).await.unwrap(), ok);

    // An entry gated beyond its reach cannot be changed or deleted by it.
    let theirs = menus
        .create(&sys(), entry(Some(acme.id), "secret", &["audit.read"]))
        .await
        .unwrap();
    assert!(matches!(
        menus.delete(&a, theirs.id).await.unwrap_err(),
        Error::Forbidden(_)
    ));
    // Global entries are superuser business.
    assert!(matches!(
        menus
            .create(&a, entry(None, "global2", &[]))
            .await
            .unwrap_err(),
        Error::Forbidden(_)
    ));
    let seeded = menus
        .list(
            &a,
            &MenuFilter {
                include_global: true,
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    let users_entry = seeded.items.iter().find(|m| m.name == "users").unwrap();
    assert!(matches!(
        menus.delete(&a, users_entry.id).await.unwrap_err(),
        Error::Forbidden(_)
    ));
    // Another company's entries do not exist for it.
    let other = create_company(&t.fv, "OTHER").await;
    let foreign = menus
        .create(&sys(), entry(Some(other.id), "foreign", &[]))
        .await
        .unwrap();
    assert_not_found(menus.get(&a, foreign.id).await, "menu");
    assert_not_found(
        menus.update(&a, foreign.id, MenuPatch::default()).await,
        "menu",
    );
    menus.delete(&a, ok.id).await.unwrap();
}

#[tokio::test]
async fn nesting_stays_acyclic_and_bounded_and_parents_keep_their_children() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let other = create_company(&t.fv, "OTHER").await;
    let menus = t.fv.menus();
    let mut chain = Vec::new();
    let mut parent = None;
    for i in 0..MAX_MENU_DEPTH {
        let m = menus
            .create(
                &sys(),
                NewMenu {
                    parent_id: parent,
                    ..entry(Some(acme.id), &format!("level{i}"), &[])
                },
            )
            .await
            .unwrap();
        parent = Some(m.id);
        chain.push(m);
    }
    let too_deep = menus
        .create(
            &sys(),
            NewMenu {
                parent_id: parent,
                ..entry(Some(acme.id), "too-deep", &[])
            },
        )
        .await;
    assert_eq!(invalid_fields(too_deep), ["parent_id"]);
    // A cycle: the top under its own descendant.
    let cycle = menus.update(&sys(), chain[0].id, under(chain[2].id)).await;
    assert_eq!(invalid_fields(cycle), ["parent_id"]);
    let own = menus.update(&sys(), chain[1].id, under(chain[1].id)).await;
    assert_eq!(invalid_fields(own), ["parent_id"]);
    // A two-level branch moves under a top-level entry.
    let side = menus
        .create(&sys(), entry(Some(acme.id), "side", &[]))
        .await
        .unwrap();
    let moved = menus
        .update(&sys(), chain[2].id, under(side.id))
        .await
        .unwrap();
    assert_eq!(moved.parent_id, Some(side.id));
    // The two-level branch level0 > level1 under level3 (third level) would nest five.
    let deep = menus.update(&sys(), chain[0].id, under(chain[3].id)).await;
    assert_eq!(invalid_fields(deep), ["parent_id"]);
    // Another company's entry is no parent.
    let foreign = menus
        .create(
            &sys(),
            NewMenu {
                parent_id: Some(chain[0].id),
                ..entry(Some(other.id), "foreign", &[])
            },
        )
        .await;
    assert_eq!(invalid_fields(foreign), ["parent_id"]);
    // A parent with children stays, and so does everything below it.
    assert_conflict(menus.delete(&sys(), chain[0].id).await, None);
    assert_eq!(
        menus.get(&sys(), chain[1].id).await.unwrap().parent_id,
        Some(chain[0].id)
    );
    let tree = menu_of_sys(&t, acme.id).await;
    let seen = flat(&tree);
    for name in ["level0", ">level1", "side", ">level2", ">>level3"] {
        assert!(seen.contains(&name.to_owned()), "{name} in {seen:?}");
    }
}

async fn menu_of_sys(t: &TestDb, company_id: i64) -> MenuTree {
    let su = create_superuser(&t.fv, "root").await;
    let a = acting(&t.fv, su.id, Some(company_id)).await;
    t.fv.menus().visible(&a, None).await.unwrap()
}

#[tokio::test]
async fn bad_fields_are_all_reported_at_once_and_nothing_is_written() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let menus = t.fv.menus();
    let before = total(&t).await;
    let bad = menus
        .create(
            &sys(),
            NewMenu {
                company_id: Some(acme.id),
                name: "Not A Slug".into(),
                path: Some("//evil.example".into()),
                title: String::new(),
                i18n_key: Some("menu users".into()),
                icon: Some("<svg onload=x>".into()),
                order: Some(1_000_000),
                permissions: names(&["no.such"]),
                ..Default::default()
            },
        )
        .await;
    let mut fields = invalid_fields(bad);
    fields.sort();
    assert_eq!(
        fields,
        [
            "i18n_key",
            "icon",
            "name",
            "order",
            "path",
            "permissions",
            "title"
        ]
    );
    let too_many: Vec<String> = (0..17).map(|i| format!("p.x{i}")).collect();
    let many = menus
        .create(
            &sys(),
            NewMenu {
                permissions: too_many,
                ..entry(Some(acme.id), "many", &[])
            },
        )
        .await;
    assert_eq!(invalid_fields(many), ["permissions"]);
    menus
        .create(&sys(), entry(Some(acme.id), "dup", &[]))
        .await
        .unwrap();
    assert_conflict(
        menus.create(&sys(), entry(Some(acme.id), "dup", &[])).await,
        Some("name"),
    );
    // The same name in another company, or globally, is another entry.
    let other = create_company(&t.fv, "OTHER").await;
    menus
        .create(&sys(), entry(Some(other.id), "dup", &[]))
        .await
        .unwrap();
    menus.create(&sys(), entry(None, "dup", &[])).await.unwrap();
    assert_conflict(
        menus.create(&sys(), entry(None, "dup", &[])).await,
        Some("name"),
    );
    assert_eq!(total(&t).await, before + 3);
}

#[tokio::test]
async fn menu_writes_are_audited() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let m =
        t.fv.menus()
            .create(&sys(), entry(Some(acme.id), "reports", &["user.read"]))
            .await
            .unwrap();
    t.fv.menus().delete(&sys(), m.id).await.unwrap();
    let rows = audit_rows(
        &t.fv,
        fastvue_core::service::audit::AuditFilter {
            entity_type: Some("menu".into()),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["create", "delete"]);
}

#[tokio::test]
async fn a_company_holds_at_most_max_menus_entries_and_the_next_is_refused_unwritten() {
    use fastvue_core::entity::menu;
    use fastvue_core::service::menus::MAX_MENUS;
    use sea_orm::{EntityTrait, Set};
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let now = chrono::Utc::now();
    let rows = (0..MAX_MENUS).map(|i| menu::ActiveModel {
        company_id: Set(Some(acme.id)),
        name: Set(format!("bulk-{i}")),
        title: Set(format!("Bulk {i}")),
        permissions: Set(String::new()),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    for chunk in rows.collect::<Vec<_>>().chunks(100) {
        menu::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(t.fv.db())
            .await
            .unwrap();
    }
    let before = total(&t).await;
    assert_conflict(
        t.fv.menus()
            .create(&sys(), entry(Some(acme.id), "one-too-many", &[]))
            .await,
        None,
    );
    assert_eq!(total(&t).await, before);
    // Another company and the global menu have room of their own.
    let other = create_company(&t.fv, "OTHER").await;
    t.fv.menus()
        .create(&sys(), entry(Some(other.id), "fine", &[]))
        .await
        .unwrap();
}
