//! Companies (tenants): create (with their seeded roles), read, list, tree, update, deactivate.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::Fastvue;
use crate::domain::{Checker, CompanyCode, Name};
use crate::entity::{company, role, user, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::seed::{COMPANY_ROLES, ensure_company_roles};
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::search::contains_any;

const UNIQUE: &[(&str, &[&str])] = &[("code", &["uq_companies_code", "companies.code"])];

/// Input for creating a company.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    /// Display name.
    pub name: String,
    /// Unique code (stored upper-case).
    pub code: String,
    /// Parent company.
    pub parent_id: Option<i64>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
}

/// Changes to a company; absent fields are left as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    /// New name.
    pub name: Option<String>,
    /// New code.
    pub code: Option<String>,
    /// New parent; `Some(0)` makes it a root.
    pub parent_id: Option<i64>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// Filters for listing companies.
#[derive(Debug, Clone, Default)]
pub struct CompanyFilter {
    /// Substring of name or code.
    pub search: Option<String>,
    /// Only active or inactive companies.
    pub is_active: Option<bool>,
    /// Only children of this company.
    pub parent_id: Option<i64>,
    /// Only these companies (visibility scope of a non-superuser).
    pub ids: Option<Vec<i64>>,
}

/// A company with its children, for `GET /companies/tree`.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyNode {
    /// The company.
    #[serde(flatten)]
    pub company: company::Model,
    /// Its children, by name.
    pub children: Vec<CompanyNode>,
}

/// Company administration.
#[derive(Debug, Clone, Copy)]
pub struct Companies<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Companies<'_> {
    /// Creates a company and its seeded roles (admin, manager, viewer) in one transaction.
    pub async fn create(&self, ctx: &AuditContext, input: NewCompany) -> Result<company::Model> {
        Ok(self.create_by(ctx, input, None).await?.0)
    }

    /// Creates a company for `creator`, who should be able to manage what it made. A
    /// superuser (or `None`, the system) gets no role: it sees every company anyway. Any
    /// other creator gets, in the same transaction, the most powerful seeded role of the
    /// new company (`admin`, else `manager`, else `viewer`) whose permissions it holds in
    /// the parent company; so creating a company never grants a permission the creator
    /// lacks. The assignment made, if any, is returned with the company.
    pub async fn create_by(
        &self,
        ctx: &AuditContext,
        input: NewCompany,
        creator: Option<&user::Model>,
    ) -> Result<(company::Model, Option<user_company_role::Model>)> {
        let mut c = Checker::default();
        let name = c.check("name", Name::parse(&input.name, 200));
        let code = c.check("code", CompanyCode::parse(&input.code));
        let (Some(name), Some(code)) = (name, code) else {
            return Err(c.into_error());
        };
        let creator = creator.filter(|u| !u.is_superuser);
        let held: Vec<std::sync::Arc<str>> = match (creator, input.parent_id) {
            (Some(u), Some(parent)) => self.fv.authorizer().codenames(u.id, parent).await?,
            _ => Vec::new(),
        };
        let txn = self.fv.begin_write().await?;
        if let Some(parent) = input.parent_id {
            ensure_parent(&txn, parent).await?;
        }
        let now = Utc::now();
        let model = company::ActiveModel {
            name: Set(name.into_inner()),
            code: Set(code.into_inner()),
            parent_id: Set(input.parent_id),
            is_active: Set(input.is_active.unwrap_or(true)),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| map_unique(e, UNIQUE))?;
        ensure_company_roles(&txn, model.id).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "create",
                entity_type: "company",
                entity_id: Some(model.id),
                company_id: Some(model.id),
                old_values: None,
                new_values: snapshot(&model),
            },
        )
        .await?;
        let mut assigned = None;
        if let Some(u) = creator {
            for template in COMPANY_ROLES {
                let Some(r) = role::Entity::find()
                    .filter(role::Column::CompanyId.eq(model.id))
                    .filter(role::Column::Codename.eq(template.codename))
                    .one(&txn)
                    .await?
                else {
                    continue;
                };
                let grants = assignments::active_codenames_of_role(&txn, r.id).await?;
                if grants
                    .iter()
                    .all(|g| held.iter().any(|h| h.as_ref() == g.as_str()))
                {
                    let input = NewAssignment {
                        company_id: model.id,
                        role_id: r.id,
                        is_default: false,
                    };
                    assigned = Some(assignments::insert(&txn, ctx, u.id, &input).await?);
                    break;
                }
            }
        }
        txn.commit().await?;
        if let Some(a) = &assigned {
            self.fv
                .permissions_changed(Change::Key {
                    user_id: a.user_id,
                    company_id: a.company_id,
                })
                .await;
        }
        Ok((model, assigned))
    }

    /// The company with this id.
    pub async fn get(&self, id: i64) -> Result<company::Model> {
        find(self.fv.db(), id).await
    }

    /// The company with this code (compared upper-case, as codes are stored), if any.
    pub async fn find_by_code(&self, code: &str) -> Result<Option<company::Model>> {
        Ok(company::Entity::find()
            .filter(company::Column::Code.eq(code.trim().to_ascii_uppercase()))
            .one(self.fv.db())
            .await?)
    }

    /// The company with this id if it is one of `visible` (`None`: every company is
    /// visible). Others are [`Error::NotFound`], exactly like ids that do not exist.
    pub async fn get_in(&self, id: i64, visible: Option<&[i64]>) -> Result<company::Model> {
        if visible.is_some_and(|ids| !ids.contains(&id)) {
            return Err(Error::NotFound { entity: "company" });
        }
        self.get(id).await
    }

    /// Lists companies by name.
    pub async fn list(
        &self,
        filter: &CompanyFilter,
        page: PageRequest,
    ) -> Result<Page<company::Model>> {
        let mut q = company::Entity::find();
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[company::Column::Name, company::Column::Code],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(company::Column::IsActive.eq(active));
        }
        if let Some(parent) = filter.parent_id {
            q = q.filter(company::Column::ParentId.eq(parent));
        }
        if let Some(ids) = &filter.ids {
            q = q.filter(company::Column::Id.is_in(ids.iter().copied()));
        }
        let db = self.fv.db();
        let total = q.clone().count(db).await?;
        let items = q
            .order_by_asc(company::Column::Name)
            .order_by_asc(company::Column::Id)
            .offset(page.offset())
            .limit(page.page_size())
            .all(db)
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// The companies as a forest. With `visible`, only those companies; a visible
    /// company whose parent is not visible becomes a root.
    pub async fn tree(&self, visible: Option<&[i64]>) -> Result<Vec<CompanyNode>> {
        let mut q = company::Entity::find().order_by_asc(company::Column::Name);
        if let Some(ids) = visible {
            q = q.filter(company::Column::Id.is_in(ids.iter().copied()));
        }
        let all = q.all(self.fv.db()).await?;
        let present: std::collections::HashSet<i64> = all.iter().map(|c| c.id).collect();
        let mut children: HashMap<Option<i64>, Vec<company::Model>> = HashMap::new();
        for c in all {
            let parent = c.parent_id.filter(|p| present.contains(p));
            children.entry(parent).or_default().push(c);
        }
        fn build(
            parent: Option<i64>,
            children: &mut HashMap<Option<i64>, Vec<company::Model>>,
        ) -> Vec<CompanyNode> {
            children
                .remove(&parent)
                .unwrap_or_default()
                .into_iter()
                .map(|company| {
                    let id = company.id;
                    CompanyNode {
                        company,
                        children: build(Some(id), children),
                    }
                })
                .collect()
        }
        Ok(build(None, &mut children))
    }

    /// Applies a patch; refuses a parent that would make a cycle. Deactivation drops the
    /// cached permissions of everyone in the company.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: i64,
        patch: CompanyPatch,
    ) -> Result<company::Model> {
        let mut c = Checker::default();
        let name = c.check_opt("name", patch.name.as_deref().map(|n| Name::parse(n, 200)));
        let code = c.check_opt("code", patch.code.as_deref().map(CompanyCode::parse));
        let (Some(name), Some(code)) = (name, code) else {
            return Err(c.into_error());
        };
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.clone().into_active_model();
        if let Some(v) = name {
            am.name = Set(v.into_inner());
        }
        if let Some(v) = code {
            am.code = Set(v.into_inner());
        }
        match patch.parent_id {
            Some(0) => am.parent_id = Set(None),
            Some(parent) => {
                ensure_parent(&txn, parent).await?;
                ensure_no_cycle(&txn, id, parent).await?;
                am.parent_id = Set(Some(parent));
            }
            None => {}
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
            am.deleted_at = Set(if v {
                None
            } else {
                old.deleted_at.or(Some(Utc::now()))
            });
        }
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await.map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "update",
                entity_type: "company",
                entity_id: Some(id),
                company_id: Some(id),
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        txn.commit().await?;
        if old.is_active != new.is_active {
            self.fv.permissions_changed(Change::Company(id)).await;
        }
        Ok(new)
    }

    /// Deactivates a company (rows are kept); nobody holds permissions in it any more.
    pub async fn deactivate(&self, ctx: &AuditContext, id: i64) -> Result<company::Model> {
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.clone().into_active_model();
        am.is_active = Set(false);
        am.deleted_at = Set(old.deleted_at.or(Some(Utc::now())));
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "deactivate",
                entity_type: "company",
                entity_id: Some(id),
                company_id: Some(id),
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        txn.commit().await?;
        self.fv.permissions_changed(Change::Company(id)).await;
        Ok(new)
    }
}

pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<company::Model> {
    company::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "company" })
}

async fn ensure_parent<C: ConnectionTrait>(db: &C, parent: i64) -> Result<()> {
    match company::Entity::find_by_id(parent).one(db).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid("parent_id", "no such company")),
    }
}

/// Walks up from `parent`; reaching `id` means the new parent is a descendant.
async fn ensure_no_cycle<C: ConnectionTrait>(db: &C, id: i64, parent: i64) -> Result<()> {
    let mut cursor = Some(parent);
    let mut steps = 0;
    while let Some(current) = cursor {
        if current == id {
            return Err(Error::invalid(
                "parent_id",
                "a company cannot be its own ancestor",
            ));
        }
        steps += 1;
        if steps > 1000 {
            return Err(Error::invalid("parent_id", "company hierarchy is too deep"));
        }
        cursor = company::Entity::find_by_id(current)
            .one(db)
            .await?
            .and_then(|c| c.parent_id);
    }
    Ok(())
}
