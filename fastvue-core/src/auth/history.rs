//! [`SignInHistory`]: every sign-in step, successful or not, with its method, client IP,
//! user agent and outcome; kept `SIGN_IN_HISTORY_DAYS` (older rows are purged as new
//! ones arrive).
//!
//! Rules: anyone reads their own history; a user's needs `user.read` over one of the
//! user's companies; a company's (the events of its members) needs `user.read` in it.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::Fastvue;
use crate::codenames;
use crate::entity::{sign_in_event, user_company_role};
use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, Origin};

/// Longest login kept in a row.
const MAX_LOGIN: usize = 320;

/// One sign-in step to record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    /// The account, when known.
    pub user_id: Option<i64>,
    /// What was typed (or the account's email).
    pub login: &'a str,
    /// `password`, `google`, `totp`, `recovery_code`.
    pub method: &'a str,
    /// Whether the step succeeded.
    pub success: bool,
    /// `signed_in`, `mfa_required`, `enrol_required` or why it failed.
    pub outcome: &'a str,
}

/// Sign-in history; reach it through [`Fastvue::sign_in_history`].
#[derive(Debug, Clone, Copy)]
pub struct SignInHistory<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Sign-in history.
    pub fn sign_in_history(&self) -> SignInHistory<'_> {
        SignInHistory { fv: self }
    }
}

impl SignInHistory<'_> {
    /// Records one step. Never fails the sign-in: a write error is logged.
    pub(crate) async fn record(&self, origin: &Origin, a: Attempt<'_>) {
        let db = self.fv.db();
        let row = sign_in_event::ActiveModel {
            user_id: Set(a.user_id),
            login: Set(a.login.chars().take(MAX_LOGIN).collect()),
            method: Set(a.method.to_owned()),
            success: Set(a.success),
            outcome: Set(a.outcome.to_owned()),
            ip_address: Set(origin.ip_address.clone()),
            user_agent: Set(origin.user_agent.clone()),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        if let Err(e) = row.insert(db).await {
            tracing::warn!(error = %e, "cannot record a sign-in event");
            return;
        }
        // About one insert in 256 purges what is past the retention.
        if rand::random::<u8>() == 0 {
            let days = i64::from(self.fv.settings().sign_in_history_days);
            let cutoff = Utc::now() - chrono::Duration::days(days);
            if let Err(e) = sign_in_event::Entity::delete_many()
                .filter(sign_in_event::Column::CreatedAt.lt(cutoff))
                .exec(db)
                .await
            {
                tracing::warn!(error = %e, "cannot purge old sign-in events");
            }
        }
    }

    /// The caller's own history, newest first.
    pub async fn own(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> Result<Page<sign_in_event::Model>> {
        let user = actor.session_user()?;
        self.page(of(user.id), page).await
    }

    /// `user_id`'s history, newest first (needs `user.read` over the user).
    pub async fn of_user(
        &self,
        actor: &Actor,
        user_id: i64,
        page: PageRequest,
    ) -> Result<Page<sign_in_event::Model>> {
        self.fv.users().get(actor, user_id).await?;
        self.page(of(user_id), page).await
    }

    /// The history of `company_id`'s members, newest first (needs `user.read` there).
    pub async fn of_company(
        &self,
        actor: &Actor,
        company_id: i64,
        page: PageRequest,
    ) -> Result<Page<sign_in_event::Model>> {
        actor
            .require_in(self.fv, company_id, codenames::USER_READ)
            .await?;
        let members = sea_orm::sea_query::Query::select()
            .column(user_company_role::Column::UserId)
            .from(user_company_role::Entity)
            .and_where(user_company_role::Column::CompanyId.eq(company_id))
            .to_owned();
        self.page(
            sea_orm::Condition::all().add(sign_in_event::Column::UserId.in_subquery(members)),
            page,
        )
        .await
    }

    async fn page(
        &self,
        which: sea_orm::Condition,
        page: PageRequest,
    ) -> Result<Page<sign_in_event::Model>> {
        let db = self.fv.db();
        let q = sign_in_event::Entity::find().filter(which);
        page.fetch(db, q, |q| q.order_by_desc(sign_in_event::Column::Id))
            .await
    }
}

fn of(user_id: i64) -> sea_orm::Condition {
    sea_orm::Condition::all().add(sign_in_event::Column::UserId.eq(user_id))
}
