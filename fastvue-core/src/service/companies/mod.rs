//! Companies (tenants): create (with their seeded roles), read, list, tree, update, deactivate.
//!
//! The hierarchy is at most [`MAX_COMPANY_DEPTH`] levels deep: creating or moving a
//! company deeper is refused ([`Error::Validation`] on `parent_id`), and
//! [`Companies::tree`] nests at most that deep whatever the stored data says (a deeper
//! company, only possible through rows written outside fastvue, is listed as a root),
//! without recursion, so no data can overflow a stack.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::Fastvue;
use crate::codenames;
use crate::domain::{Codename, CompanyCode, Name};
use crate::entity::{company, role};
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::permission::tree::{ancestors, descendants, too_deep};
use crate::permission::{Affected, Change};
use crate::policy::escalation::{Guard, Watch};
use crate::policy::{Actor, Scope};
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, Entry, snapshot};
use crate::service::lookup;
use crate::service::search::contains_any;
use crate::system::COMPANY_ROLES;
use crate::validation::{self, normalised};
use validator::Validate;

pub use crate::permission::tree::MAX_COMPANY_DEPTH;

mod write;

pub(crate) use write::{CompanyFields, insert_row, update_row};

/// Input for creating a company.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    /// Display name.
    #[validate(custom(function = validation::name_200))]
    pub name: String,
    /// Unique code (stored upper-case).
    #[validate(custom(function = validation::company_code))]
    pub code: String,
    /// Parent company.
    pub parent_id: Option<i64>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
    /// Members must sign in with a second factor (default false).
    pub require_2fa: Option<bool>,
}

/// Changes to a company; absent fields are left as they are.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    /// New name.
    #[validate(custom(function = validation::name_200))]
    pub name: Option<String>,
    /// New code.
    #[validate(custom(function = validation::company_code))]
    pub code: Option<String>,
    /// New parent; `Some(0)` makes it a root.
    pub parent_id: Option<i64>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Require (or stop requiring) two-factor sign-in of the members.
    pub require_2fa: Option<bool>,
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
    /// Only these companies (intersected with the actor's scope).
    pub ids: Option<Vec<i64>>,
}

/// A company with its children, for `GET /companies/tree`: nested at most
/// [`MAX_COMPANY_DEPTH`] levels.
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

impl Fastvue {
    /// Company administration.
    pub fn companies(&self) -> Companies<'_> {
        Companies { fv: self }
    }
}

impl Companies<'_> {
    /// Creates a company and its seeded roles (admin, manager, viewer) in one transaction.
    ///
    /// Rules: a non-superuser needs `company.create` in its active company, must name a
    /// `parent_id` (only superusers create top-level companies) and needs
    /// `company.create` there ([`Error::Forbidden`]); the new company may not be deeper
    /// than [`MAX_COMPANY_DEPTH`] levels.
    ///
    /// A non-superuser creator gets, in the same transaction, the most powerful seeded
    /// role of the new company (`admin`, else `manager`, else `viewer`) whose permissions
    /// it holds in the parent company, so it can manage what it made without gaining a
    /// permission it lacked. Superusers and the system get no role (they see every
    /// company anyway).
    pub async fn create(&self, actor: &Actor, input: NewCompany) -> Result<company::Model> {
        let fv = self.fv;
        if !actor.is_superuser() {
            actor.require(fv, codenames::COMPANY_CREATE).await?;
            let Some(parent) = input.parent_id else {
                return Err(Error::Forbidden(
                    "only superusers create top-level companies: name a parent_id".into(),
                ));
            };
            actor
                .require_in(fv, parent, codenames::COMPANY_CREATE)
                .await?;
        }
        input.validate()?;
        let name = normalised("name", Name::parse(&input.name, 200))?;
        let code = normalised("code", CompanyCode::parse(&input.code))?;
        let creator = actor.user_id().filter(|_| !actor.is_superuser());
        let held = match (creator, input.parent_id) {
            (Some(_), Some(parent)) => Some(actor.held(fv, parent).await?),
            _ => None,
        };
        let ctx = actor.audit();
        let txn = fv.begin_write().await?;
        if let Some(parent) = input.parent_id {
            ensure_parent(&txn, parent).await?;
            if depth_of(&txn, parent).await? + 1 > MAX_COMPANY_DEPTH {
                return Err(too_deep());
            }
        }
        let fields = CompanyFields {
            name: name.into_inner(),
            code: code.into_inner(),
            parent_id: input.parent_id,
            is_active: input.is_active.unwrap_or(true),
            require_2fa: input.require_2fa.unwrap_or(false),
        };
        let model = insert_row(&txn, &fields, Utc::now()).await?;
        audit::record(
            &txn,
            &ctx,
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
        if let (Some(user_id), Some(held)) = (creator, &held) {
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
                if held.missing(grants.iter().map(String::as_str)).is_empty() {
                    let input = NewAssignment {
                        company_id: model.id,
                        role_id: r.id,
                        is_default: false,
                        scope: Default::default(),
                    };
                    assigned = Some(assignments::insert(&txn, &ctx, user_id, &input).await?);
                    break;
                }
            }
        }
        // The holders of `subtree` grants above the new company hold in it at once: their
        // sets (and membership answers) read for this id before it existed are dropped.
        let mut changes: Vec<Change> = (input.parent_id.iter())
            .map(|&through| Change::Inherited {
                through,
                company_id: model.id,
            })
            .collect();
        changes.extend(assigned.iter().map(|a| Change::Key {
            user_id: a.user_id,
            company_id: a.company_id,
        }));
        fv.commit_changes(txn, &changes).await?;
        Ok(model)
    }

    /// The company `id` if the actor holds `company.read` there (and in its active
    /// company); [`Error::NotFound`] otherwise, like an unknown id.
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<company::Model> {
        self.scoped(actor, id, codenames::COMPANY_READ)
            .await
            .map(|(c, _)| c)
    }

    /// The company `id` if the actor holds `codename` there (and in its active company),
    /// with the actor's scope of `codename`.
    async fn scoped(
        &self,
        actor: &Actor,
        id: i64,
        codename: &str,
    ) -> Result<(company::Model, Scope)> {
        actor.require(self.fv, codename).await?;
        let scope = actor.scope(self.fv, codename).await?;
        if !scope.contains(id) {
            return Err(Error::NotFound { entity: "company" });
        }
        Ok((lookup::company(self.fv.db(), id).await?, scope))
    }

    /// The company with this code (compared upper-case, as codes are stored), if any. An
    /// operator lookup: no actor, no visibility rule.
    pub async fn find_by_code(&self, code: &str) -> Result<Option<company::Model>> {
        Ok(company::Entity::find()
            .filter(company::Column::Code.eq(code.trim().to_ascii_uppercase()))
            .one(self.fv.db())
            .await?)
    }

    /// Lists companies by name: those where the actor holds `company.read`.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &CompanyFilter,
        page: PageRequest,
    ) -> Result<Page<company::Model>> {
        actor.require(self.fv, codenames::COMPANY_READ).await?;
        let scope = actor.scope(self.fv, codenames::COMPANY_READ).await?;
        let mut filter = filter.clone();
        filter.ids = scope.narrow(filter.ids.take());
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
        page.fetch(db, q, |q| {
            q.order_by_asc(company::Column::Name)
                .order_by_asc(company::Column::Id)
        })
        .await
    }

    /// The companies where the actor holds `company.read`, as a forest by name: a
    /// company whose parent is not visible is a root. Built without recursion and nested
    /// at most [`MAX_COMPANY_DEPTH`] levels, whatever the stored data (a deeper company
    /// is listed as a root, with its true `parent_id`).
    pub async fn tree(&self, actor: &Actor) -> Result<Vec<CompanyNode>> {
        actor.require(self.fv, codenames::COMPANY_READ).await?;
        let scope = actor.scope(self.fv, codenames::COMPANY_READ).await?;
        let mut q = company::Entity::find().order_by_asc(company::Column::Name);
        if let Some(ids) = scope.ids() {
            q = q.filter(company::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(forest(q.all(self.fv.db()).await?))
    }

    /// The active companies where the actor holds `codename` (a data scope: its own,
    /// and those it inherits below its `subtree` grants), by id; at most
    /// [`MAX_SUBTREE`](crate::permission::tree::MAX_SUBTREE). No permission is needed
    /// to ask about oneself. [`Error::Validation`] on `permission` for a malformed
    /// codename or one no active permission has.
    pub async fn where_held(&self, actor: &Actor, codename: &str) -> Result<Vec<company::Model>> {
        let fv = self.fv;
        let codename = Codename::parse(codename).map_err(|m| Error::invalid("permission", m))?;
        let known = crate::entity::permission::Entity::find()
            .filter(crate::entity::permission::Column::Codename.eq(codename.as_str()))
            .filter(crate::entity::permission::Column::IsActive.eq(true))
            .one(fv.db())
            .await?;
        if known.is_none() {
            return Err(Error::invalid("permission", "no such active permission"));
        }
        let q = company::Entity::find()
            .filter(company::Column::IsActive.eq(true))
            .filter(company::Column::DeletedAt.is_null())
            .order_by_asc(company::Column::Id);
        let ids = match actor.scope(fv, codename.as_str()).await? {
            Scope::All => {
                return Ok(q
                    .limit(crate::permission::tree::MAX_SUBTREE as u64)
                    .all(fv.db())
                    .await?);
            }
            Scope::Companies(ids) => ids,
        };
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            out.extend(
                q.clone()
                    .filter(company::Column::Id.is_in(chunk.iter().copied()))
                    .all(fv.db())
                    .await?,
            );
        }
        Ok(out)
    }

    /// Applies a patch. Rules: `company.update` here (and in the active company); a
    /// non-superuser moves a company only under a parent where it holds
    /// `company.update`, never to the top level ([`Error::Forbidden`]); a parent that
    /// would make a cycle, or the tree deeper than [`MAX_COMPANY_DEPTH`], is
    /// [`Error::Validation`]; (de)activation is checked against the
    /// [escalation invariant](crate::policy::escalation) and drops the cached
    /// permissions of everyone in the company.
    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        patch: CompanyPatch,
    ) -> Result<company::Model> {
        let fv = self.fv;
        self.scoped(actor, id, codenames::COMPANY_UPDATE).await?;
        match patch.parent_id {
            Some(0) if !actor.is_superuser() => {
                return Err(Error::Forbidden(
                    "only superusers make a company top-level".into(),
                ));
            }
            Some(parent) if parent != 0 => {
                actor
                    .require_in(fv, parent, codenames::COMPANY_UPDATE)
                    .await?;
            }
            _ => {}
        }
        patch.validate()?;
        let name = (patch.name.as_deref())
            .map(|n| normalised("name", Name::parse(n, 200)))
            .transpose()?;
        let code = (patch.code.as_deref())
            .map(|c| normalised("code", CompanyCode::parse(c)))
            .transpose()?;
        let ctx = actor.audit();
        let txn = fv.begin_write().await?;
        let old = lookup::company(&txn, id).await?;
        let new_parent = match patch.parent_id {
            Some(0) => None,
            Some(parent) => {
                ensure_parent(&txn, parent).await?;
                ensure_no_cycle(&txn, id, parent).await?;
                if depth_of(&txn, parent).await? + 1 + height_below(&txn, id).await?
                    > MAX_COMPANY_DEPTH
                {
                    return Err(too_deep());
                }
                Some(parent)
            }
            None => old.parent_id,
        };
        let activity = patch.is_active.is_some_and(|v| v != old.is_active);
        // What the move changes: the grants inherited from the old ancestors, and from
        // the new ones, in this company and every company below it (both resolved now:
        // neither chain is changed by the write).
        let moved: Vec<Change> = if new_parent == old.parent_id {
            Vec::new()
        } else {
            [old.parent_id, new_parent]
                .into_iter()
                .flatten()
                .map(|through| Change::Inherited {
                    through,
                    company_id: id,
                })
                .collect()
        };
        let mut watches = Vec::new();
        if activity {
            watches.extend(Watch::company_members(actor, &txn, id).await?);
        }
        let mut affected = Affected::default();
        for change in &moved {
            watches.extend(Watch::of_change(actor, &txn, *change).await?);
            affected.merge(crate::permission::resolve(&txn, *change).await?);
        }
        let guard = Guard::before(actor, &txn, watches).await?;
        let mut fields = CompanyFields::of(&old);
        if let Some(v) = name {
            fields.name = v.into_inner();
        }
        if let Some(v) = code {
            fields.code = v.into_inner();
        }
        fields.parent_id = new_parent;
        if let Some(v) = patch.require_2fa {
            fields.require_2fa = v;
        }
        if let Some(v) = patch.is_active {
            fields.is_active = v;
        }
        let new = update_row(&txn, &old, &fields, Utc::now()).await?;
        audit::record(
            &txn,
            &ctx,
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
        guard.check(&txn).await?;
        if old.is_active != new.is_active {
            for change in [
                Change::Company(id),
                Change::Inherited {
                    through: id,
                    company_id: id,
                },
            ] {
                affected.merge(crate::permission::resolve(&txn, change).await?);
            }
        }
        fv.commit(txn, affected).await?;
        Ok(new)
    }

    /// Deactivates a company (rows are kept); nobody holds permissions in it any more.
    /// Rules: `company.delete` here (and in the active company), and the
    /// [escalation invariant](crate::policy::escalation) for everyone in it.
    pub async fn deactivate(&self, actor: &Actor, id: i64) -> Result<company::Model> {
        let fv = self.fv;
        self.scoped(actor, id, codenames::COMPANY_DELETE).await?;
        let ctx = actor.audit();
        let txn = fv.begin_write().await?;
        let guard =
            Guard::before(actor, &txn, Watch::company_members(actor, &txn, id).await?).await?;
        let old = lookup::company(&txn, id).await?;
        let fields = CompanyFields {
            is_active: false,
            ..CompanyFields::of(&old)
        };
        let new = update_row(&txn, &old, &fields, Utc::now()).await?;
        audit::record(
            &txn,
            &ctx,
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
        guard.check(&txn).await?;
        let changes = [
            Change::Company(id),
            Change::Inherited {
                through: id,
                company_id: id,
            },
        ];
        fv.commit_changes(txn, &changes).await?;
        Ok(new)
    }
}

async fn ensure_parent<C: ConnectionTrait>(db: &C, parent: i64) -> Result<()> {
    match company::Entity::find_by_id(parent).one(db).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid("parent_id", "no such company")),
    }
}

/// Walks up from `parent`; reaching `id` means the new parent is a descendant.
async fn ensure_no_cycle<C: ConnectionTrait>(db: &C, id: i64, parent: i64) -> Result<()> {
    for ancestor in ancestors(db, parent).await? {
        if ancestor == id {
            return Err(Error::invalid(
                "parent_id",
                "a company cannot be its own ancestor",
            ));
        }
    }
    Ok(())
}

/// The level of company `id` (a top-level company is level 1).
async fn depth_of<C: ConnectionTrait>(db: &C, id: i64) -> Result<usize> {
    Ok(ancestors(db, id).await?.len())
}

/// How many levels lie below company `id` (0 for a leaf).
async fn height_below<C: ConnectionTrait>(db: &C, id: i64) -> Result<usize> {
    Ok(descendants(db, id).await?.1)
}

/// The companies (ordered by name) as a forest, without recursion: a company whose
/// parent is absent is a root, and so is one that would be nested deeper than
/// [`MAX_COMPANY_DEPTH`] levels or sits on a cycle of parents.
fn forest(all: Vec<company::Model>) -> Vec<CompanyNode> {
    let index: HashMap<i64, usize> = all.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); all.len()];
    let mut roots = Vec::new();
    for (i, c) in all.iter().enumerate() {
        match c.parent_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    // Breadth-first from the roots; a child that would sit too deep starts a tree of its
    // own. Companies no root reaches (a cycle of parents) become roots too.
    let mut level = vec![0usize; all.len()];
    let mut placed = vec![false; all.len()];
    let mut order = Vec::with_capacity(all.len());
    let mut kept: Vec<Vec<usize>> = vec![Vec::new(); all.len()];
    let mut queue: std::collections::VecDeque<usize> = roots.iter().copied().collect();
    for &r in &roots {
        placed[r] = true;
        level[r] = 1;
    }
    let mut next_unplaced = 0;
    loop {
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &child in &children[i] {
                if placed[child] {
                    continue;
                }
                placed[child] = true;
                if level[i] < MAX_COMPANY_DEPTH {
                    level[child] = level[i] + 1;
                    kept[i].push(child);
                } else {
                    level[child] = 1;
                    roots.push(child);
                }
                queue.push_back(child);
            }
        }
        while next_unplaced < all.len() && placed[next_unplaced] {
            next_unplaced += 1;
        }
        if next_unplaced == all.len() {
            break;
        }
        placed[next_unplaced] = true;
        level[next_unplaced] = 1;
        roots.push(next_unplaced);
        queue.push_back(next_unplaced);
    }
    // Children are built before their parents: walk the breadth-first order backwards.
    let mut companies: Vec<Option<company::Model>> = all.into_iter().map(Some).collect();
    let mut built: Vec<Option<CompanyNode>> = (0..companies.len()).map(|_| None).collect();
    for &i in order.iter().rev() {
        let nested = kept[i].iter().filter_map(|&c| built[c].take()).collect();
        if let Some(company) = companies[i].take() {
            built[i] = Some(CompanyNode {
                company,
                children: nested,
            });
        }
    }
    roots.iter().filter_map(|&r| built[r].take()).collect()
}
