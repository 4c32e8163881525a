//! Listing users: numbered and keyset pages, narrowed to what the actor may read.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select};

use crate::codenames;
use crate::entity::{user, user_company_role};
use crate::error::{Error, Result};
use crate::pagination::{CursorPage, CursorRequest, Page, PageRequest};
use crate::policy::Actor;
use crate::service::search::contains_any;

use super::{SortBy, UserFilter, UserSort, Users};

impl Users<'_> {
    /// Lists users, by id: for a non-superuser only those holding an active role in a
    /// company where it holds `user.read` (needed in its active company too).
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<user::Model>> {
        let filter = self.visible(actor, filter).await?;
        self.numbered(&filter, page).await
    }

    /// [`Users::list`] read after a cursor (keyset pagination): the same rows and
    /// rules, a page costing the same however deep.
    pub async fn list_after(
        &self,
        actor: &Actor,
        filter: &UserFilter,
        cursor: CursorRequest,
    ) -> Result<CursorPage<user::Model>> {
        let filter = self.visible(actor, filter).await?;
        self.after(&filter, cursor).await
    }

    /// The users of company `company_id` (holding an active role there), by id: the actor
    /// needs `user.read` there ([`Error::NotFound`] for a company outside its scope).
    pub async fn of_company(
        &self,
        actor: &Actor,
        company_id: i64,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<user::Model>> {
        let filter = self.in_company(actor, company_id, filter).await?;
        self.numbered(&filter, page).await
    }

    /// [`Users::of_company`] read after a cursor (keyset pagination).
    pub async fn of_company_after(
        &self,
        actor: &Actor,
        company_id: i64,
        filter: &UserFilter,
        cursor: CursorRequest,
    ) -> Result<CursorPage<user::Model>> {
        let filter = self.in_company(actor, company_id, filter).await?;
        self.after(&filter, cursor).await
    }

    /// `filter` narrowed to the companies where the actor may read users.
    async fn visible(&self, actor: &Actor, filter: &UserFilter) -> Result<UserFilter> {
        actor.require(self.fv, codenames::USER_READ).await?;
        let scope = actor.scope(self.fv, codenames::USER_READ).await?;
        let mut filter = filter.clone();
        filter.company_ids = scope.narrow(filter.company_ids.take());
        Ok(filter)
    }

    /// `filter` narrowed to one company the actor may read users of.
    async fn in_company(
        &self,
        actor: &Actor,
        company_id: i64,
        filter: &UserFilter,
    ) -> Result<UserFilter> {
        actor.require(self.fv, codenames::USER_READ).await?;
        let scope = actor.scope(self.fv, codenames::USER_READ).await?;
        if !scope.contains(company_id) {
            return Err(Error::NotFound { entity: "company" });
        }
        crate::service::lookup::company(self.fv.db(), company_id).await?;
        Ok(UserFilter {
            company_id: Some(company_id),
            company_ids: None,
            ..filter.clone()
        })
    }

    /// The users a filter selects (unordered, every column).
    fn selected(filter: &UserFilter) -> Select<user::Entity> {
        let mut q = user::Entity::find();
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[
                    user::Column::Email,
                    user::Column::Username,
                    user::Column::FullName,
                ],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(user::Column::IsActive.eq(active));
        }
        if let Some(su) = filter.is_superuser {
            q = q.filter(user::Column::IsSuperuser.eq(su));
        }
        let member_of = |ids: Vec<i64>| {
            user::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user_company_role::Column::UserId)
                    .from(user_company_role::Entity)
                    .and_where(user_company_role::Column::CompanyId.is_in(ids))
                    .and_where(user_company_role::Column::IsActive.eq(true))
                    .to_owned(),
            )
        };
        if let Some(id) = filter.company_id {
            q = q.filter(member_of(vec![id]));
        }
        if let Some(ids) = &filter.company_ids {
            q = q.filter(member_of(ids.clone()));
        }
        q
    }

    async fn numbered(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<user::Model>> {
        let q = Self::selected(filter);
        let db = self.fv.db();
        // A plain COUNT(*) over the filtered rows (sea-orm's `count()` wraps the query in
        // a subquery of every column, several times slower on SQLite), remembered while
        // no user or assignment changes.
        let total = self
            .fv
            .totals()
            .get_or_count(db, "users", filter.total_key(), async || {
                let n: i64 = q
                    .clone()
                    .select_only()
                    .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
                    .into_tuple()
                    .one(db)
                    .await?
                    .unwrap_or(0);
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await?;
        // A deferred join: the OFFSET walks ids only (an index-only scan of the primary
        // key on PostgreSQL, the compact `idx_users_id` on SQLite, whose rows live in the
        // table b-tree), then the page's rows are read by id. Deep pages skip thousands of
        // ids instead of thousands of full rows.
        let page_ids = sorted(q.select_only().column(user::Column::Id), filter.sort)
            .offset(page.offset())
            .limit(page.page_size())
            .into_query();
        let items = sorted(
            user::Entity::find().filter(user::Column::Id.in_subquery(page_ids)),
            filter.sort,
        )
        .all(db)
        .await?;
        Ok(Page::new(items, total, page))
    }

    async fn after(
        &self,
        filter: &UserFilter,
        cursor: CursorRequest,
    ) -> Result<CursorPage<user::Model>> {
        if filter.sort != UserSort::default() {
            return Err(Error::invalid(
                "sort",
                "keyset pages (cursor) go by ascending id only; use page numbers to sort",
            ));
        }
        let mut q = Self::selected(filter);
        if let Some(after) = cursor.after() {
            q = q.filter(user::Column::Id.gt(after));
        }
        let rows = q
            .order_by_asc(user::Column::Id)
            .limit(cursor.limit())
            .all(self.fv.db())
            .await?;
        Ok(CursorPage::new(rows, cursor, |u| u.id))
    }
}

impl UserFilter {
    /// What selects the rows, not their order: the key of the filter's total.
    fn total_key(&self) -> String {
        let mut ids = self.company_ids.clone();
        if let Some(ids) = ids.as_mut() {
            ids.sort_unstable();
            ids.dedup();
        }
        let search = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        format!(
            "{search:?}|{:?}|{:?}|{:?}|{ids:?}",
            self.is_active, self.is_superuser, self.company_id
        )
    }
}

/// `q` ordered by `sort`, then by id (in the same direction: a total order, so pages
/// neither repeat nor skip rows).
fn sorted<Q: QueryOrder>(q: Q, sort: UserSort) -> Q {
    let column = match sort.by {
        SortBy::Id => None,
        SortBy::Username => Some(user::Column::Username),
        SortBy::Email => Some(user::Column::Email),
        SortBy::FullName => Some(user::Column::FullName),
        SortBy::CreatedAt => Some(user::Column::CreatedAt),
        SortBy::LastLoginAt => Some(user::Column::LastLoginAt),
    };
    let order = if sort.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let nulls = if sort.descending {
        sea_orm::sea_query::NullOrdering::Last
    } else {
        sea_orm::sea_query::NullOrdering::First
    };
    let q = match column {
        // Names compare without case on both backends (SQLite's default collation is
        // binary); NULLs (no full name, never signed in) sort as the smallest value on
        // both, first ascending and last descending.
        Some(c @ (user::Column::Username | user::Column::FullName)) => q.order_by_with_nulls(
            sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(c)),
            order.clone(),
            nulls,
        ),
        Some(c) => q.order_by_with_nulls(c, order.clone(), nulls),
        None => q,
    };
    q.order_by(user::Column::Id, order)
}
