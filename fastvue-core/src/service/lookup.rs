//! Rows by id as every service reads them, answering [`Error::NotFound`] naming the
//! entity. The services, the policy and the sign-in flows import these rather than each
//! other, so no service depends on another just to read a row.
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::entity::{company, role, user};
use crate::error::{Error, Result};

/// The user `id` (deleted or not).
pub(crate) async fn user<C: ConnectionTrait>(db: &C, id: i64) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "user" })
}

/// The company `id` (active or not).
pub(crate) async fn company<C: ConnectionTrait>(db: &C, id: i64) -> Result<company::Model> {
    company::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "company" })
}

/// The role `id` (active or not).
pub(crate) async fn role<C: ConnectionTrait>(db: &C, id: i64) -> Result<role::Model> {
    role::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "role" })
}
