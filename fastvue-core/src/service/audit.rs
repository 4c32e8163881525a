//! The audit trail: every administrative write records who changed what.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};
use serde::Serialize;

use crate::Fastvue;
use crate::codenames;
use crate::entity::audit_log;
use crate::error::Result;
use crate::pagination::{CursorPage, CursorRequest, Page, PageRequest};
use crate::policy::Actor;

/// Who is making a change, and from where, as an audit row records it (built from the
/// [`Actor`] of the write).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditContext {
    /// The acting user; `None` for the system (seeding, CLI without a user).
    pub actor_id: Option<i64>,
    /// Client IP address.
    pub ip_address: Option<String>,
    /// Request id of the HTTP request.
    pub request_id: Option<String>,
}

impl Actor {
    /// The audit context of writes made by this actor.
    pub(crate) fn audit(&self) -> AuditContext {
        AuditContext {
            actor_id: self.user_id(),
            ip_address: self.origin().ip_address.clone(),
            request_id: self.origin().request_id.clone(),
        }
    }
}

impl AuditContext {
    /// The system acting on its own (bootstrap, migrations, CLI).
    pub(crate) fn system() -> Self {
        Self::default()
    }

    /// `user_id` acting for itself from `origin` (sign-in steps, mailed links).
    pub(crate) fn of(user_id: i64, origin: &crate::policy::Origin) -> Self {
        Self {
            actor_id: Some(user_id),
            ip_address: origin.ip_address.clone(),
            request_id: origin.request_id.clone(),
        }
    }
}

/// What one audit row says.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<i64>,
    pub company_id: Option<i64>,
    pub old_values: Option<serde_json::Value>,
    pub new_values: Option<serde_json::Value>,
}

/// Serializes a row for the audit trail (password hashes are never serialized).
pub(crate) fn snapshot<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Writes one audit row on `conn` (the transaction of the write it describes).
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    ctx: &AuditContext,
    entry: Entry<'_>,
) -> Result<()> {
    audit_log::ActiveModel {
        actor_id: Set(ctx.actor_id),
        company_id: Set(entry.company_id),
        action: Set(entry.action.to_owned()),
        entity_type: Set(entry.entity_type.to_owned()),
        entity_id: Set(entry.entity_id),
        old_values: Set(entry.old_values),
        new_values: Set(entry.new_values),
        ip_address: Set(ctx.ip_address.clone()),
        request_id: Set(ctx.request_id.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Filters for listing the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only rows about this kind of entity.
    pub entity_type: Option<String>,
    /// Only rows about this entity id.
    pub entity_id: Option<i64>,
    /// Only rows by this actor.
    pub actor_id: Option<i64>,
    /// Only rows of this company.
    pub company_id: Option<i64>,
    /// Only rows of these companies (intersected with the actor's scope).
    pub company_ids: Option<Vec<i64>>,
}

/// Reads the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct AuditLogs<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// The audit trail.
    pub fn audit_logs(&self) -> AuditLogs<'_> {
        AuditLogs { fv: self }
    }
}

impl AuditLogs<'_> {
    /// Lists audit rows, newest first: for a non-superuser only rows of companies where
    /// it holds `audit.read` (a `company_id` filter outside them is
    /// [`crate::Error::NotFound`]); superusers also see global rows without a company.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<audit_log::Model>> {
        let q = self.selected(actor, filter).await?;
        let db = self.fv.db();
        page.fetch(db, q, |q| q.order_by_desc(audit_log::Column::Id))
            .await
    }

    /// [`AuditLogs::list`] read after a cursor (keyset pagination, newest first): rows
    /// written meanwhile never shift a page, and a deep page costs what the first does.
    pub async fn list_after(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        cursor: CursorRequest,
    ) -> Result<CursorPage<audit_log::Model>> {
        let mut q = self.selected(actor, filter).await?;
        if let Some(after) = cursor.after() {
            q = q.filter(audit_log::Column::Id.lt(after));
        }
        let rows = q
            .order_by_desc(audit_log::Column::Id)
            .limit(cursor.limit())
            .all(self.fv.db())
            .await?;
        Ok(CursorPage::new(rows, cursor, |a| a.id))
    }

    /// The rows a filter selects among those the actor may read.
    async fn selected(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
    ) -> Result<Select<audit_log::Entity>> {
        actor.require(self.fv, codenames::AUDIT_READ).await?;
        let scope = actor
            .list_scope(self.fv, codenames::AUDIT_READ, filter.company_id)
            .await?;
        let mut filter = filter.clone();
        filter.company_ids = scope.narrow(filter.company_ids.take());
        let mut q = audit_log::Entity::find();
        if let Some(t) = &filter.entity_type {
            q = q.filter(audit_log::Column::EntityType.eq(t.as_str()));
        }
        if let Some(id) = filter.entity_id {
            q = q.filter(audit_log::Column::EntityId.eq(id));
        }
        if let Some(id) = filter.actor_id {
            q = q.filter(audit_log::Column::ActorId.eq(id));
        }
        if let Some(id) = filter.company_id {
            q = q.filter(audit_log::Column::CompanyId.eq(id));
        }
        if let Some(ids) = &filter.company_ids {
            q = q.filter(audit_log::Column::CompanyId.is_in(ids.iter().copied()));
        }
        Ok(q)
    }
}
