//! `fastvue users ...`: superusers, passwords, listing and deactivation.
//!
//! USER arguments accept an id, a username or an email. Every change is audited as
//! made by the system and drops the user's cached permissions in this process and, with
//! Redis, in every server.
use clap::Subcommand;
use fastvue_core::Actor;
use fastvue_core::config::Settings;
use fastvue_core::entity::user;
use fastvue_core::pagination::{MAX_PAGE_SIZE, PageRequest};
use fastvue_core::seed::DEFAULT_COMPANY_CODE;
use fastvue_core::service::users::{NewUser, UserFilter, UserPatch};
use fastvue_core::{Error, Fastvue};

use crate::input;
use crate::output::{self, Failure, Table, or_dash, yes_no};

/// User administration.
#[derive(Debug, Subcommand)]
pub enum Users {
    /// Create a superuser. Missing values are asked for on the terminal (the password
    /// hidden, twice) unless --no-input is given.
    CreateSuperuser {
        /// Username (3 to 100 letters, digits, '_', '.', '-').
        #[arg(long)]
        username: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Never prompt: a missing value is a usage error (exit code 2).
        #[arg(long)]
        no_input: bool,
    },
    /// List users.
    List {
        /// Only superusers.
        #[arg(long)]
        superusers: bool,
        /// Only members (active role holders) of this company.
        #[arg(long, value_name = "ID")]
        company: Option<i64>,
    },
    /// Set a user's password (asked twice, hidden) and sign the user out everywhere.
    SetPassword {
        /// Id, username or email.
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a user a superuser.
    Promote {
        /// Id, username or email.
        user: String,
    },
    /// Take superuser rights away from a user.
    Demote {
        /// Id, username or email.
        user: String,
    },
    /// Deactivate a user (the row is kept): no sign-in, no permissions, sessions revoked.
    Deactivate {
        /// Id, username or email.
        user: String,
    },
    /// Turn off a user's two-factor sign-in (a lost device): the secret and recovery
    /// codes are deleted, audited. The user signs in with the password alone (or
    /// enrols again, when a company requires it).
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// Id, username or email.
        user: String,
    },
}

/// Runs `cmd`.
pub async fn run(json: bool, settings: Settings, cmd: Users) -> Result<(), Failure> {
    let ctx = Actor::system();
    match cmd {
        Users::CreateSuperuser {
            username,
            email,
            password_stdin,
            no_input,
        } => {
            let (username, email, password) =
                superuser_input(username, email, password_stdin, no_input)?;
            let fv = super::connect(settings).await?;
            let current_company_id = fv
                .companies()
                .find_by_code(DEFAULT_COMPANY_CODE)
                .await?
                .map(|c| c.id);
            let created = fv
                .users()
                .create(
                    &ctx,
                    NewUser {
                        email,
                        username,
                        password: Some(password),
                        is_superuser: Some(true),
                        current_company_id,
                        ..NewUser::default()
                    },
                )
                .await?;
            if json {
                output::json(&created);
            } else {
                println!(
                    "created superuser {} (id {}, {})",
                    created.username, created.id, created.email
                );
            }
        }
        Users::List {
            superusers,
            company,
        } => {
            let fv = super::connect(settings).await?;
            let filter = UserFilter {
                is_superuser: superusers.then_some(true),
                company_id: company,
                ..UserFilter::default()
            };
            let users = list_all(&fv, &filter).await?;
            if json {
                output::json(&users);
            } else {
                let mut table = Table::new(&[
                    "id",
                    "username",
                    "email",
                    "active",
                    "superuser",
                    "company",
                    "full name",
                ]);
                for u in &users {
                    table.row(vec![
                        u.id.to_string(),
                        u.username.clone(),
                        u.email.clone(),
                        yes_no(u.is_active),
                        yes_no(u.is_superuser),
                        or_dash(u.current_company_id),
                        or_dash(u.full_name.as_deref()),
                    ]);
                }
                table.print();
            }
        }
        Users::SetPassword {
            user,
            password_stdin,
        } => {
            // The user first: nobody should type a password for a typo.
            let fv = super::connect(settings).await?;
            let target = resolve(&fv, &user).await?;
            let password = if password_stdin {
                input::password_from_stdin()?
            } else {
                input::new_password()?
            };
            fv.users().set_password(&ctx, target.id, &password).await?;
            done(
                json,
                &target,
                "password changed; every session of the user was signed out",
            );
        }
        Users::Promote { user } => set_superuser(json, settings, &user, true).await?,
        Users::Demote { user } => set_superuser(json, settings, &user, false).await?,
        Users::Deactivate { user } => {
            let fv = super::connect(settings).await?;
            let target = resolve(&fv, &user).await?;
            let updated = fv.users().deactivate(&ctx, target.id).await?;
            done(
                json,
                &updated,
                "deactivated; sessions revoked and cached permissions dropped",
            );
        }
        Users::Reset2fa { user } => {
            let fv = super::connect(settings).await?;
            let target = resolve(&fv, &user).await?;
            fv.two_factor().reset(&ctx, target.id).await?;
            done(json, &target, "two-factor sign-in turned off");
        }
    }
    Ok(())
}

/// The username, email and password of a new superuser, from the flags or the terminal.
fn superuser_input(
    username: Option<String>,
    email: Option<String>,
    password_stdin: bool,
    no_input: bool,
) -> Result<(String, String, String), Failure> {
    if no_input {
        let missing: Vec<&str> = [
            ("--username", username.is_none()),
            ("--email", email.is_none()),
            ("--password-stdin", !password_stdin),
        ]
        .into_iter()
        .filter_map(|(flag, missing)| missing.then_some(flag))
        .collect();
        if !missing.is_empty() {
            return Err(Failure::Usage(format!(
                "--no-input needs {}",
                missing.join(", ")
            )));
        }
    }
    let username = match username {
        Some(u) => u,
        None => input::ask("Username", "--username")?,
    };
    let email = match email {
        Some(e) => e,
        None => input::ask("Email", "--email")?,
    };
    let password = if password_stdin {
        input::password_from_stdin()?
    } else {
        input::new_password()?
    };
    Ok((username, email, password))
}

async fn set_superuser(
    json: bool,
    settings: Settings,
    reference: &str,
    superuser: bool,
) -> Result<(), Failure> {
    let fv = super::connect(settings).await?;
    let target = resolve(&fv, reference).await?;
    let updated = fv
        .users()
        .update(
            &Actor::system(),
            target.id,
            UserPatch {
                is_superuser: Some(superuser),
                ..UserPatch::default()
            },
        )
        .await?;
    let what = match (target.is_superuser, superuser) {
        (true, true) => "was already a superuser",
        (false, false) => "was not a superuser",
        (false, true) => "is now a superuser",
        (true, false) => "is no longer a superuser",
    };
    done(json, &updated, what);
    Ok(())
}

/// The user named by `reference` (id, username or email).
async fn resolve(fv: &Fastvue, reference: &str) -> Result<user::Model, Failure> {
    match fv.users().resolve(reference).await {
        Err(Error::NotFound { .. }) => Err(Failure::Failed(format!(
            "no user {reference:?} (give an id, a username or an email)"
        ))),
        other => Ok(other?),
    }
}

async fn list_all(fv: &Fastvue, filter: &UserFilter) -> Result<Vec<user::Model>, Failure> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let request = PageRequest::new(Some(page), Some(MAX_PAGE_SIZE))?;
        let p = fv.users().list(&Actor::system(), filter, request).await?;
        out.extend(p.items);
        if page >= p.pages {
            return Ok(out);
        }
        page += 1;
    }
}

fn done(json: bool, user: &user::Model, what: &str) {
    if json {
        output::json(user);
    } else {
        println!("{} (id {}): {what}", user.username, user.id);
    }
}
