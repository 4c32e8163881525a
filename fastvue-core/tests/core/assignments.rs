//! Role assignments: which user holds which role in which company.

use fastvue_core::service::assignments::NewAssignment;

use crate::helpers::*;

fn to(company_id: i64, role_id: i64) -> NewAssignment {
    NewAssignment {
        company_id,
        role_id,
        is_default: false,
        scope: Default::default(),
    }
}

#[tokio::test]
async fn assigning_a_role_records_who_assigned_it() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let boss = create_superuser(&t.fv, "boss").await;
    let ann = create_user(&t.fv, "ann").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    let a =
        t.fv.assignments()
            .assign(
                &acting(&t.fv, boss.id, None).await,
                ann.id,
                NewAssignment {
                    company_id: acme.id,
                    role_id: viewer.id,
                    is_default: true,
                    scope: Default::default(),
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (a.user_id, a.company_id, a.role_id),
        (ann.id, acme.id, viewer.id)
    );
    assert!(a.is_default);
    assert!(a.is_active);
    assert_eq!(a.assigned_by, Some(boss.id));
    let held = t.fv.assignments().of_user(&sys(), ann.id).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].assignment, a);
    assert_not_found(
        t.fv.assignments().unassign(&sys(), boss.id, a.id).await,
        "assignment",
    );
}

#[tokio::test]
async fn assigning_the_same_role_twice_is_a_conflict() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    assign(&t.fv, ann.id, acme.id, viewer.id).await;
    assert_conflict(
        t.fv.assignments()
            .assign(&sys(), ann.id, to(acme.id, viewer.id))
            .await,
        Some("role_id"),
    );
    // Another role in the same company is fine.
    let manager = company_role(&t.fv, acme.id, "manager").await;
    assign(&t.fv, ann.id, acme.id, manager.id).await;
}

#[tokio::test]
async fn assigning_a_role_of_another_company_is_a_validation_error() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let beta_admin = company_role(&t.fv, beta.id, "admin").await;
    assert_eq!(
        invalid_fields(
            t.fv.assignments()
                .assign(&sys(), ann.id, to(acme.id, beta_admin.id))
                .await
        ),
        ["role_id"]
    );
    assert!(
        t.fv.assignments()
            .of_user(&sys(), ann.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_global_role_can_be_assigned_in_any_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let auditor = create_role(&t.fv, None, "auditor", &["audit.read"]).await;
    assign(&t.fv, ann.id, acme.id, auditor.id).await;
    assign(&t.fv, ann.id, beta.id, auditor.id).await;
    assert_eq!(t.fv.assignments().companies_of(ann.id).await.unwrap(), {
        let mut v = vec![acme.id, beta.id];
        v.sort_unstable();
        v
    });
}

#[tokio::test]
async fn assigning_needs_an_existing_user_company_and_role() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    assert_not_found(
        t.fv.assignments()
            .assign(&sys(), 343_434, to(acme.id, viewer.id))
            .await,
        "user",
    );
    assert_eq!(
        invalid_fields(
            t.fv.assignments()
                .assign(&sys(), ann.id, to(343_434, viewer.id))
                .await
        ),
        ["company_id"]
    );
    assert_eq!(
        invalid_fields(
            t.fv.assignments()
                .assign(&sys(), ann.id, to(acme.id, 343_434))
                .await
        ),
        ["role_id"]
    );
}

#[tokio::test]
async fn unassigning_removes_the_assignment() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    let a = assign(&t.fv, ann.id, acme.id, viewer.id).await;
    assert_not_found(
        t.fv.assignments().unassign(&sys(), bob.id, a.id).await,
        "assignment",
    );
    t.fv.assignments()
        .unassign(&sys(), ann.id, a.id)
        .await
        .unwrap();
    assert!(
        t.fv.assignments()
            .of_user(&sys(), ann.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        t.fv.assignments().unassign(&sys(), ann.id, a.id).await,
        "assignment",
    );
    // And it can be assigned again.
    assign(&t.fv, ann.id, acme.id, viewer.id).await;
}

#[tokio::test]
async fn of_user_lists_role_and_company_names() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let a1 = assign(
        &t.fv,
        ann.id,
        acme.id,
        company_role(&t.fv, acme.id, "admin").await.id,
    )
    .await;
    let a2 = assign(
        &t.fv,
        ann.id,
        acme.id,
        company_role(&t.fv, acme.id, "viewer").await.id,
    )
    .await;
    let a3 = assign(
        &t.fv,
        ann.id,
        beta.id,
        company_role(&t.fv, beta.id, "manager").await.id,
    )
    .await;

    let views = t.fv.assignments().of_user(&sys(), ann.id).await.unwrap();
    let rows: Vec<(i64, &str, &str, &str)> = views
        .iter()
        .map(|v| {
            (
                v.assignment.id,
                v.role_codename.as_str(),
                v.role_name.as_str(),
                v.company_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (a1.id, "admin", "Administrator", "ACME Inc"),
            (a2.id, "viewer", "Viewer", "ACME Inc"),
            (a3.id, "manager", "Manager", "BETA Inc"),
        ]
    );
    let only_beta: Vec<_> =
        t.fv.assignments()
            .of_user(&sys(), ann.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|v| v.assignment.company_id == beta.id)
            .collect();
    assert_eq!(only_beta.len(), 1);
    assert_eq!(only_beta[0].assignment, a3);
    let json = serde_json::to_value(&only_beta[0]).unwrap();
    assert_eq!(json["role_codename"], "manager");
    assert_eq!(
        json["company_id"], beta.id,
        "the assignment is flattened into the view"
    );
    assert_not_found(t.fv.assignments().of_user(&sys(), 121_212).await, "user");
}

#[tokio::test]
async fn membership_is_cached_until_that_assignment_changes() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let other = create_company(&t.fv, "OTHER").await;
    let ann = create_user(&t.fv, "ann").await;
    let role = create_role(&t.fv, Some(acme.id), "clerk", &["user.read"]).await;
    let (fv, log) = t.counted_handle().await;

    let a = assign(&fv, ann.id, acme.id, role.id).await;
    log.clear();
    assert!(fv.assignments().is_member(ann.id, acme.id).await.unwrap());
    assert_eq!(log.take().len(), 1, "the first check reads the database");
    assert!(fv.assignments().is_member(ann.id, acme.id).await.unwrap());
    assert!(!fv.assignments().is_member(ann.id, other.id).await.unwrap());
    assert_eq!(log.take().len(), 1, "only the new (user, company) is read");
    assert!(!fv.assignments().is_member(ann.id, other.id).await.unwrap());
    assert!(log.take().is_empty(), "answers, yes or no, are cached");

    fv.assignments()
        .unassign(&sys(), ann.id, a.id)
        .await
        .unwrap();
    assert!(!fv.assignments().is_member(ann.id, acme.id).await.unwrap());
    assign(&fv, ann.id, acme.id, role.id).await;
    assert!(fv.assignments().is_member(ann.id, acme.id).await.unwrap());
}
