//! System permissions and roles, and the idempotent bootstrap run at every start.
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Statement,
};

use crate::Fastvue;
use crate::domain::Username;
use crate::entity::{company, user};
use crate::error::{Error, Result};
use crate::password::random_secret;
use crate::policy::Actor;
use crate::service::users::NewUser;

use crate::service::companies::{CompanyFields, insert_row};
pub use crate::system::{COMPANY_ROLES, CRUD_RESOURCES, RoleTemplate, system_permissions};
use crate::system::{ensure_company_roles, ensure_system_permissions};

/// Code of the company created at first start.
pub const DEFAULT_COMPANY_CODE: &str = "DEFAULT";

/// What bootstrap did that an operator must know.
#[derive(Debug, Default)]
pub struct BootstrapReport {
    /// Set when bootstrap created the first superuser with a generated password: print it
    /// once on the console (never to a log).
    pub generated_admin: Option<(String, String)>,
    /// Whether the superuser from FASTVUE_ADMIN_EMAIL was created by this run.
    pub created_admin: bool,
}

impl Fastvue {
    /// Seeds system permissions and roles, the default company and the first superuser
    /// (idempotent; run at every start).
    pub async fn bootstrap(&self) -> Result<BootstrapReport> {
        bootstrap(self).await
    }
}

/// Idempotent start-up seeding: system permissions, the default company and its roles,
/// and a first superuser (from FASTVUE_ADMIN_EMAIL/FASTVUE_ADMIN_PASSWORD, or with a
/// generated password when the database has no user at all).
pub async fn bootstrap(fv: &Fastvue) -> Result<BootstrapReport> {
    let db = fv.db();
    let txn = fv.begin_write().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // Replicas starting together over one database seed one after the other (the
        // lock ends with the transaction); SQLite's write transaction is already exclusive.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [crate::db::STARTUP_LOCK_KEY.into()],
        ))
        .await?;
    }
    ensure_system_permissions(&txn).await?;
    let found = company::Entity::find()
        .filter(company::Column::Code.eq(DEFAULT_COMPANY_CODE))
        .one(&txn)
        .await?;
    // Under the start-up lock (PostgreSQL) or SQLite's exclusive write transaction, so
    // two replicas never both insert it.
    let default_company = match found {
        Some(c) => c,
        None => {
            let fields = CompanyFields {
                name: "Default".to_owned(),
                code: DEFAULT_COMPANY_CODE.to_owned(),
                parent_id: None,
                is_active: true,
                require_2fa: false,
            };
            insert_row(&txn, &fields, Utc::now()).await?
        }
    };
    ensure_company_roles(&txn, default_company.id).await?;
    txn.commit().await?;

    let mut report = BootstrapReport::default();
    let settings = fv.settings();
    let ctx = Actor::system();
    if let Some(email) = settings.admin_email.clone() {
        let exists = user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .count(db)
            .await?
            > 0;
        if !exists {
            let password = settings
                .admin_password
                .as_ref()
                .map(|p| p.expose().to_owned());
            let generated = password.is_none();
            let password = password.unwrap_or_else(random_secret);
            let username = Username::from_email(&email, "-admin").into_inner();
            let (admin, inserted) =
                create_superuser(fv, &ctx, &email, &username, &password, default_company.id)
                    .await?;
            report.created_admin = inserted;
            if generated && inserted {
                report.generated_admin = Some((admin.username, password));
            }
        }
    } else if user::Entity::find().count(db).await? == 0 {
        let password = random_secret();
        let (admin, inserted) = create_superuser(
            fv,
            &ctx,
            "admin@fastvue.local",
            "admin",
            &password,
            default_company.id,
        )
        .await?;
        // Another replica bootstrapping at the same moment may have inserted it first:
        // only the one that stored this password reports it.
        report.created_admin = inserted;
        if inserted {
            report.generated_admin = Some((admin.username, password));
        }
    }
    Ok(report)
}

async fn create_superuser(
    fv: &Fastvue,
    ctx: &Actor,
    email: &str,
    username: &str,
    password: &str,
    company_id: i64,
) -> Result<(user::Model, bool)> {
    // A taken username gets a numeric suffix; a taken email means another replica
    // bootstrapping at the same moment created this superuser first.
    for attempt in 0..20 {
        let candidate = if attempt == 0 {
            username.to_owned()
        } else {
            format!("{username}-{attempt}")
        };
        let created = fv
            .users()
            .create(
                ctx,
                NewUser {
                    email: email.to_owned(),
                    username: candidate,
                    password: Some(password.to_owned()),
                    full_name: Some("Administrator".to_owned()),
                    is_active: Some(true),
                    is_superuser: Some(true),
                    current_company_id: Some(company_id),
                },
            )
            .await;
        match created {
            Err(Error::Conflict {
                field: Some("username"),
                ..
            }) => continue,
            Err(Error::Conflict { .. }) => {
                let existing =
                    fv.users().find_by_login(email).await?.ok_or_else(|| {
                        Error::Internal("superuser vanished during bootstrap".into())
                    })?;
                return Ok((existing, false));
            }
            other => return other.map(|u| (u, true)),
        }
    }
    Err(Error::Internal(format!(
        "no free username derived from {username}"
    )))
}
