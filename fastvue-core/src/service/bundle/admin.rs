//! The steps the roles and groups services share once their own rules have passed
//! (who may act, on which company, global and system roles): each runs in one
//! transaction with its audit row, the [escalation guard](crate::policy::escalation)
//! over every holder, and the cache changes published at commit.
use std::future::Future;

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};

use super::table::{BundleTable, find};
use super::{BundleFields, BundlePatch, codenames_json, id_of, insert_row, key_of, update_row};
use super::{snapshot, with_permissions};
use crate::Fastvue;
use crate::domain::{Name, Slug};
use crate::entity::{group, permission, role};
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::audit::{self, Entry};
use crate::service::lookup;
use crate::service::permissions::resolve_codenames;
use crate::validation::normalised;
use validator::Validate;

/// A bundle table whose writes the escalation guard watches.
pub(crate) trait Administered: BundleTable {
    /// Whose permissions change with the row `model`: a role's holders, a group's
    /// members.
    fn watched<'a, C: ConnectionTrait>(
        actor: &'a Actor,
        db: &'a C,
        model: &'a Self::Model,
    ) -> impl Future<Output = Result<Vec<Watch>>> + Send + 'a;
}

impl Administered for role::Entity {
    /// A global role is changed by superusers only, whose writes are not checked.
    async fn watched<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        model: &role::Model,
    ) -> Result<Vec<Watch>> {
        match model.company_id {
            Some(_) => Watch::role_holders(actor, db, model.id).await,
            None => Ok(Vec::new()),
        }
    }
}

impl Administered for group::Entity {
    async fn watched<C: ConnectionTrait>(
        actor: &Actor,
        db: &C,
        model: &group::Model,
    ) -> Result<Vec<Watch>> {
        Watch::group_members(actor, db, model.id).await
    }
}

/// A new bundle's own input, as both services take it.
pub(crate) struct NewBundle<'a> {
    /// Owning company (`None`: a global role template).
    pub(crate) company_id: Option<i64>,
    /// Display name, as given.
    pub(crate) name: &'a str,
    /// Codename, as given.
    pub(crate) codename: &'a str,
    /// Description, as given.
    pub(crate) description: Option<String>,
    /// Initial permission codenames.
    pub(crate) permissions: &'a [String],
    /// The input's own checks (`validate()`), reported after the rights checks.
    pub(crate) checked: std::result::Result<(), validator::ValidationErrors>,
}

/// Creates a bundle with its initial permissions, which a non-superuser must hold in
/// its company. Returns the row and its permissions.
pub(crate) async fn create<E: Administered>(
    fv: &Fastvue,
    actor: &Actor,
    input: NewBundle<'_>,
) -> Result<(E::Model, Vec<permission::Model>)> {
    let perms = resolve_codenames(fv.db(), "permissions", input.permissions).await?;
    if let Some(company_id) = input.company_id {
        actor
            .ensure_holds_all(
                fv,
                company_id,
                perms.iter().map(|p| p.codename.as_str()),
                "grant",
            )
            .await?;
    }
    input.checked?;
    let name = normalised("name", Name::parse(input.name, 100))?;
    let codename = normalised("codename", Slug::parse(input.codename))?;
    let txn = fv.begin_write().await?;
    if let Some(company_id) = input.company_id {
        lookup::company(&txn, company_id)
            .await
            .map_err(|_| Error::invalid("company_id", "no such company"))?;
    }
    let fields = BundleFields::new(name.into_inner(), input.description, true);
    let model = insert_row::<E, _>(
        &txn,
        input.company_id,
        codename.as_str(),
        &fields,
        Utc::now(),
    )
    .await?;
    let id = id_of::<E>(&model);
    E::KIND.link(&txn, id, perms.iter().map(|p| p.id)).await?;
    audit::record(
        &txn,
        &actor.audit(),
        Entry {
            action: "create",
            entity_type: E::ENTITY_TYPE,
            entity_id: Some(id),
            company_id: input.company_id,
            old_values: None,
            new_values: with_permissions(&model, &perms),
        },
    )
    .await?;
    txn.commit().await?;
    Ok((model, perms))
}

/// Applies a patch; (de)activation changes every holder's permissions at once.
pub(crate) async fn update<E: Administered>(
    fv: &Fastvue,
    actor: &Actor,
    id: i64,
    patch: BundlePatch,
) -> Result<(E::Model, Vec<permission::Model>)> {
    patch.validate()?;
    let txn = fv.begin_write().await?;
    let old = find::<E, _>(&txn, id).await?;
    let fields = BundleFields::patched::<E>(&old, patch)?;
    let guard = Guard::before(actor, &txn, E::watched(actor, &txn, &old).await?).await?;
    let new = update_row::<E, _>(&txn, old.clone(), &fields, Utc::now()).await?;
    audit::record(
        &txn,
        &actor.audit(),
        Entry {
            action: "update",
            entity_type: E::ENTITY_TYPE,
            entity_id: Some(id),
            company_id: key_of::<E>(&new).0,
            old_values: snapshot(&old),
            new_values: snapshot(&new),
        },
    )
    .await?;
    guard.check(&txn).await?;
    let perms = E::KIND.permissions_of(&txn, id).await?;
    let changes = if E::fields(&old).is_active == E::fields(&new).is_active {
        Vec::new()
    } else {
        vec![E::KIND.change(id)]
    };
    fv.commit_changes(txn, &changes).await?;
    Ok((new, perms))
}

/// Replaces the bundle's permission set; every holder sees the new set at once. In a
/// company, a non-superuser adds only permissions it holds there (keeping one is not
/// granting it).
pub(crate) async fn set_permissions<E: Administered>(
    fv: &Fastvue,
    actor: &Actor,
    id: i64,
    company_id: Option<i64>,
    codenames: &[String],
) -> Result<(E::Model, Vec<permission::Model>)> {
    let perms = resolve_codenames(fv.db(), "permissions", codenames).await?;
    if let Some(c) = company_id {
        let kept = E::KIND.permissions_of(fv.db(), id).await?;
        let added = perms
            .iter()
            .filter(|p| !kept.iter().any(|k| k.id == p.id))
            .map(|p| p.codename.as_str());
        actor.ensure_holds_all(fv, c, added, "grant").await?;
    }
    let txn = fv.begin_write().await?;
    let model = find::<E, _>(&txn, id).await?;
    let guard = Guard::before(actor, &txn, E::watched(actor, &txn, &model).await?).await?;
    let before = E::KIND.permissions_of(&txn, id).await?;
    E::KIND
        .replace(&txn, id, perms.iter().map(|p| p.id))
        .await?;
    audit::record(
        &txn,
        &actor.audit(),
        Entry {
            action: "set_permissions",
            entity_type: E::ENTITY_TYPE,
            entity_id: Some(id),
            company_id: key_of::<E>(&model).0,
            old_values: Some(codenames_json(&before)),
            new_values: Some(codenames_json(&perms)),
        },
    )
    .await?;
    guard.check(&txn).await?;
    fv.commit_changes(txn, &[E::KIND.change(id)]).await?;
    Ok((model, perms))
}

/// Deletes the bundle with its links (assignments or memberships go by cascade).
pub(crate) async fn delete<E: Administered>(fv: &Fastvue, actor: &Actor, id: i64) -> Result<()> {
    let txn = fv.begin_write().await?;
    let old = find::<E, _>(&txn, id).await?;
    let guard = Guard::before(actor, &txn, E::watched(actor, &txn, &old).await?).await?;
    let affected = crate::permission::resolve(&txn, E::KIND.change(id)).await?;
    E::delete_many().filter(E::ID.eq(id)).exec(&txn).await?;
    audit::record(
        &txn,
        &actor.audit(),
        Entry {
            action: "delete",
            entity_type: E::ENTITY_TYPE,
            entity_id: Some(id),
            company_id: key_of::<E>(&old).0,
            old_values: snapshot(&old),
            new_values: None,
        },
    )
    .await?;
    guard.check(&txn).await?;
    fv.commit(txn, affected).await?;
    Ok(())
}
