//! A user's links to identity providers (Google): listing and unlinking. Links are made
//! by the sign-in flow ([`crate::auth::oauth`]).
use sea_orm::{
    ColumnTrait, EntityTrait, ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::Fastvue;
use crate::entity::{social_account, user};
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::service::audit::{self, Entry, snapshot};

/// A user's linked provider accounts.
#[derive(Debug, Clone, Copy)]
pub struct SocialAccounts<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Users' linked provider accounts.
    pub fn social_accounts(&self) -> SocialAccounts<'_> {
        SocialAccounts { fv: self }
    }
}

impl SocialAccounts<'_> {
    /// The acting user's own links, oldest first (a person's session; not for API keys).
    pub async fn list(&self, actor: &Actor) -> Result<Vec<social_account::Model>> {
        let user_id = actor.session_user()?.id;
        Ok(social_account::Entity::find()
            .filter(social_account::Column::UserId.eq(user_id))
            .order_by_asc(social_account::Column::Id)
            .all(self.fv.db())
            .await?)
    }

    /// Removes the acting user's link `id` ([`Error::NotFound`] when it is not theirs).
    /// Refused with [`Error::Conflict`] when it is the user's last way to sign in: no
    /// password and no other link. The user row is locked meanwhile (PostgreSQL), so two
    /// concurrent unlinks cannot remove the last two links.
    pub async fn unlink(&self, actor: &Actor, id: i64) -> Result<()> {
        let user_id = actor.session_user()?.id;
        let ctx = actor.audit();
        let txn = self.fv.begin_write().await?;
        let owner = user::Entity::find_by_id(user_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(Error::NotFound { entity: "user" })?;
        let link = social_account::Entity::find_by_id(id)
            .filter(social_account::Column::UserId.eq(user_id))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound {
                entity: "social account",
            })?;
        let others = social_account::Entity::find()
            .filter(social_account::Column::UserId.eq(user_id))
            .filter(social_account::Column::Id.ne(id))
            .count(&txn)
            .await?;
        if owner.password_hash.is_none() && others == 0 {
            return Err(Error::Conflict {
                field: None,
                message: "this is the only way to sign in to this account: set a password \
                          before unlinking it"
                    .into(),
            });
        }
        let old = snapshot(&link);
        link.delete(&txn).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "unlink",
                entity_type: "social_account",
                entity_id: Some(id),
                company_id: None,
                old_values: old,
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
