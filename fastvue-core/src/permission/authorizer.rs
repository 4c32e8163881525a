//! The authorizer: permission checks through the two-tier cache, and exact invalidation.
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;
use tokio::sync::broadcast;

use super::catalog::{Catalog, intern_id};
use super::change::Affected;
use super::l1::{CacheKey, Invalidation, L1Cache};
use super::l2::L2Lookup;
use super::query::{self, GrantPath};
use super::set::PermissionSet;
use super::tiered::TieredCache;
use crate::entity::{company, group, permission, role, user};
use crate::error::{Error, Result};

/// The future [`Authorizer::has`] returns: either the answer the in-process cache gave
/// when `has` was called, or the boxed lookup through L2 and the database. A hand-written
/// enum rather than an `async` block so that a hit is 24 bytes whose `poll` inlines into
/// the caller: an `async` block's state machine carries the miss path with it.
/// `repr(C, u8)` keeps the answer a byte of its own: in the niche layout it shared a word
/// with the pointer, and callers stored it as a byte and reloaded that word, a load the
/// CPU cannot forward from the store (about 3 ns a check).
#[repr(C, u8)]
enum Has<'a> {
    /// Answered from the in-process cache.
    Held(bool),
    /// Not cached: L2, then the database.
    Later(Pin<Box<dyn Future<Output = Result<bool>> + Send + 'a>>),
}

impl Future for Has<'_> {
    type Output = Result<bool>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        match self.get_mut() {
            Has::Held(held) => Poll::Ready(Ok(*held)),
            Has::Later(lookup) => lookup.as_mut().poll(cx),
        }
    }
}

/// Why a user holds (or does not hold) a permission in a company.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The user asked about.
    pub user_id: i64,
    /// The company asked about.
    pub company_id: i64,
    /// The permission asked about.
    pub permission: String,
    /// The outcome: whether any grant path is effective.
    pub granted: bool,
    /// Every grant path (superuser, roles, groups). Empty when not granted.
    pub grants: Vec<GrantPath>,
    /// Why nothing is granted despite paths, when that is the case (inactive user,
    /// company or permission, unknown permission).
    pub blocked_by: Option<&'static str>,
}

/// What an operator (or the admin endpoint) asks to drop from the permission cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTarget {
    /// Every cached set.
    All,
    /// The sets of one user.
    User {
        /// The user.
        user_id: i64,
        /// Only the set in this company; `None`: in every company.
        company_id: Option<i64>,
    },
    /// The sets of every holder of a role.
    Role(i64),
    /// The sets of every member of a group.
    Group(i64),
    /// Every set in a company.
    Company(i64),
}

/// What [`Authorizer::invalidate_target`] dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct InvalidationSummary {
    /// Sets dropped from this process's in-memory tier.
    pub local: u64,
    /// Sets deleted from Redis; `None` without Redis (partial when `published` is false).
    pub redis: Option<u64>,
    /// With Redis: whether every part reached Redis and was published to the other
    /// processes, which drop their in-memory sets on receipt. When it is false a full
    /// repair is owed (see [`super::tiered`]); always false without Redis.
    pub published: bool,
    /// On PostgreSQL: whether the invalidation was announced on the database's
    /// invalidation feed, which every replica hears whatever Redis does (see
    /// [`super::feed`]); `None` on SQLite.
    pub announced: Option<bool>,
}

impl InvalidationSummary {
    /// Whether the other processes were told: through the feed when there is one, else
    /// through the Redis bus.
    pub fn reached_other_processes(&self) -> bool {
        self.announced.unwrap_or(self.published)
    }
}

/// What Redis holds for one (user, company) key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RedisEntry {
    /// No REDIS_URL is configured.
    Disabled,
    /// Redis holds nothing for the key.
    Absent,
    /// The cached codenames, sorted.
    Cached {
        /// The codenames.
        permissions: Vec<String>,
    },
    /// A value that is not a JSON array of codenames (every process reads it as a miss).
    Unreadable {
        /// The value as stored.
        raw: String,
    },
    /// Redis did not answer.
    Unavailable {
        /// Why.
        error: String,
    },
}

/// One (user, company) key compared between Redis and the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheInspection {
    /// The user.
    pub user_id: i64,
    /// The company.
    pub company_id: i64,
    /// What Redis holds.
    pub redis: RedisEntry,
    /// The effective permissions the database grants now, sorted (never cached).
    pub database: Vec<String>,
    /// Cached in Redis but no longer granted (empty unless Redis holds a value).
    pub stale: Vec<String>,
    /// Granted but absent from the Redis value (empty unless Redis holds a value).
    pub missing: Vec<String>,
}

impl CacheInspection {
    /// Whether Redis holds a value that differs from what the database grants.
    pub fn differs(&self) -> bool {
        !self.stale.is_empty() || !self.missing.is_empty()
    }
}

/// The state of the shared Redis tier, for `fastvue cache stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RedisOverview {
    /// No REDIS_URL is configured: each process has only its in-memory tier.
    Disabled,
    /// Redis answered.
    Reachable {
        /// Round trip of a `PING`, milliseconds.
        round_trip_ms: f64,
        /// Permission sets held (approximate, see [`super::l2::RedisTier::count_values`]).
        entries: u64,
    },
    /// Redis did not answer.
    Unavailable {
        /// Why.
        error: String,
    },
}

/// Cache configuration and the shared tier's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheOverview {
    /// Whether permission caching is on (`CACHE_ENABLED`).
    pub enabled: bool,
    /// Time-to-live of a cached set, seconds (`PERMISSION_CACHE_TTL`).
    pub ttl_seconds: u64,
    /// Capacity of each process's in-memory tier (`PERMISSION_CACHE_MAX_ENTRIES`).
    pub max_entries: u64,
    /// The Redis tier.
    pub redis: RedisOverview,
}

/// Answers permission checks. Cheap to share: it lives inside [`crate::Fastvue`].
pub struct Authorizer {
    db: DatabaseConnection,
    enabled: bool,
    cache: TieredCache,
    catalog: Catalog,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("enabled", &self.enabled)
            .field("redis", &self.cache.l2().is_some())
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    pub(crate) fn new(db: DatabaseConnection, enabled: bool, cache: TieredCache) -> Self {
        Self {
            db,
            enabled,
            cache,
            catalog: Catalog::default(),
        }
    }

    /// The in-process tier.
    pub fn l1(&self) -> &L1Cache {
        self.cache.l1()
    }

    /// Both tiers and the invalidation bus.
    pub fn cache(&self) -> &TieredCache {
        &self.cache
    }

    /// A receiver of every permission change this process learns of, local or made by
    /// another process (through the invalidation bus), as the cache scopes it
    /// invalidates: the (user, company) sets in a scope may have changed and must be
    /// recomputed with [`permissions`](Self::permissions). Also fires with
    /// [`Invalidation::All`] after the bus lost its Redis subscription. A receiver that
    /// falls behind gets `RecvError::Lagged` and must treat it as
    /// [`Invalidation::All`]: everything may have changed. See [`L1Cache::subscribe`].
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Invalidation> {
        self.cache.l1().subscribe()
    }

    /// The codename catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The effective permission set of `user_id` in `company_id`.
    pub async fn permissions(&self, user_id: i64, company_id: i64) -> Result<Arc<PermissionSet>> {
        let key = CacheKey::new(user_id, company_id);
        if self.enabled
            && let Some(set) = self.cache.l1().get(key)
        {
            return Ok(set);
        }
        // Boxed: the miss future (Redis and database round trips) is large, and keeping
        // it inline would make every caller's future, hits included, that large.
        Box::pin(self.fill(key)).await
    }

    /// Reads the sets of `user_ids` in `company_id` from the database, one statement per
    /// 500 users (run concurrently) instead of one per user, and stores them in the
    /// in-process tier (Redis is left alone: each process fills its own). For a caller
    /// about to read many sets of one company at once, such as the permission streams a
    /// role change wakes. Sets already cached are read again and replaced; a set
    /// invalidated while it loads is not stored (the fill tickets of every miss). Returns
    /// how many sets it stored; 0 with the cache disabled.
    pub async fn prefetch(&self, company_id: i64, user_ids: &[i64]) -> Result<usize> {
        if !self.enabled {
            return Ok(0);
        }
        let mut users = user_ids.to_vec();
        users.sort_unstable();
        users.dedup();
        let stored = futures_util::future::try_join_all(
            users
                .chunks(query::USERS_PER_STATEMENT)
                .map(|chunk| self.prefetch_chunk(company_id, chunk)),
        )
        .await?;
        Ok(stored.into_iter().sum())
    }

    /// One statement of [`prefetch`](Self::prefetch): `users` sorted, at most
    /// [`query::USERS_PER_STATEMENT`] of them.
    async fn prefetch_chunk(&self, company_id: i64, users: &[i64]) -> Result<usize> {
        let l1 = self.cache.l1();
        let tickets: Vec<_> = users
            .iter()
            .map(|&user_id| l1.begin_fill(CacheKey::new(user_id, company_id)))
            .collect();
        let rows = query::effective_permissions_of(&self.db, company_id, users).await?;
        // Rows are ordered by user, and so are the users and their tickets: walk both.
        let mut rows = rows.into_iter().peekable();
        let mut stored = 0;
        for ticket in tickets {
            let user_id = ticket.key().user_id;
            let grants = rows
                .next_if(|(u, _)| *u == user_id)
                .map(|(_, grants)| grants)
                .unwrap_or_default();
            stored += usize::from(l1.complete_fill(ticket, self.set_of(&grants)));
        }
        Ok(stored)
    }

    /// The miss path: L2, then the database; stores the result in both tiers.
    async fn fill(&self, key: CacheKey) -> Result<Arc<PermissionSet>> {
        if !self.enabled {
            return Ok(self.load(key).await?.0);
        }
        let l1 = self.cache.l1();
        // Order matters: the L1 ticket before any read, the L2 generations before the
        // database read (see `tiered`), so a fill that races an invalidation is dropped.
        let ticket = l1.begin_fill(key);
        let remote_ticket = match self.cache.l2_lookup(key).await {
            L2Lookup::Hit(codenames) => match self.catalog.ids(&codenames) {
                Some(ids) => {
                    let set = l1.interner().intern(PermissionSet::new(ids));
                    l1.complete_fill(ticket, set.clone());
                    return Ok(set);
                }
                // A codename this process has not seen yet: read the database, which
                // teaches the catalogue; do not overwrite Redis.
                None => None,
            },
            L2Lookup::Miss(remote_ticket) => remote_ticket,
        };
        let (set, codenames) = self.load(key).await?;
        if let Some(rt) = remote_ticket {
            self.cache.l2_store(key, &rt, &codenames).await;
        }
        l1.complete_fill(ticket, set.clone());
        Ok(set)
    }

    /// The effective permissions as sorted codenames.
    pub async fn codenames(&self, user_id: i64, company_id: i64) -> Result<Vec<Arc<str>>> {
        let set = self.permissions(user_id, company_id).await?;
        let mut names = self.catalog.codenames(set.ids());
        names.sort_unstable();
        Ok(names)
    }

    /// Whether the user holds `codename` in the company. Allocation-free on a cache hit.
    ///
    /// The cache is consulted when `has` is called, not when the future is first
    /// polled; a hit therefore returns an already-complete future of a few bytes.
    #[inline]
    pub fn has<'a>(
        &'a self,
        user_id: i64,
        company_id: i64,
        codename: &'a str,
    ) -> impl Future<Output = Result<bool>> + Send + 'a {
        match self.cached_has(user_id, company_id, codename) {
            Some(held) => Has::Held(held),
            None => self.has_later(user_id, company_id, codename),
        }
    }

    /// The future of [`has`](Self::has) on a miss, kept out of line so that the hit path
    /// (and the caller that polls it) stays small.
    #[cold]
    #[inline(never)]
    fn has_later<'a>(&'a self, user_id: i64, company_id: i64, codename: &'a str) -> Has<'a> {
        Has::Later(Box::pin(self.has_uncached(user_id, company_id, codename)))
    }

    async fn has_uncached(&self, user_id: i64, company_id: i64, codename: &str) -> Result<bool> {
        let set = self.permissions(user_id, company_id).await?;
        // Every id of a loaded set is in the catalogue, so an unknown codename is not held.
        Ok(self.catalog.id(codename).is_some_and(|id| set.contains(id)))
    }

    /// The answer of [`has`](Self::has) when the in-process cache holds the user's set;
    /// `None` on a miss, for a codename no cached set holds yet, or with the cache
    /// disabled. Synchronous, lock-free in the steady state and allocation-free.
    #[inline]
    pub fn cached_has(&self, user_id: i64, company_id: i64, codename: &str) -> Option<bool> {
        if !self.enabled {
            return None;
        }
        self.cache.l1().contains_codename(
            CacheKey::new(user_id, company_id),
            codename,
            &self.catalog,
        )
    }

    /// Whether the user holds every one of `codenames`.
    pub async fn has_all(&self, user_id: i64, company_id: i64, codenames: &[&str]) -> Result<bool> {
        let set = self.permissions(user_id, company_id).await?;
        Ok(codenames
            .iter()
            .all(|c| self.catalog.id(c).is_some_and(|id| set.contains(id))))
    }

    /// Whether the user holds at least one of `codenames`.
    pub async fn has_any(&self, user_id: i64, company_id: i64, codenames: &[&str]) -> Result<bool> {
        let set = self.permissions(user_id, company_id).await?;
        Ok(codenames
            .iter()
            .any(|c| self.catalog.id(c).is_some_and(|id| set.contains(id))))
    }

    /// The companies where the user holds `codename`, ascending: through its own
    /// assignments and group memberships, and inherited below its `subtree` ones (every
    /// active company for a superuser; none for an inactive user or an unknown
    /// codename). A data scope for an embedding service's own queries ("which
    /// companies' reports may this user read?"), cached per (user, codename) in the
    /// process and dropped with the user's permission sets, on every replica, so it is
    /// cheap to call per request: a hit is a map lookup and a reference count.
    ///
    /// Always equal to the companies `c` where [`has`](Self::has)`(user, c, codename)`.
    pub async fn companies_where(&self, user_id: i64, codename: &str) -> Result<Arc<[i64]>> {
        if !self.enabled {
            return Ok(query::companies_where(&self.db, user_id, codename)
                .await?
                .into());
        }
        // Only codenames of active permissions are cached, so no caller can fill the
        // cache with made-up keys; one that is not is held nowhere.
        if self.catalog.id(codename).is_none() {
            match query::active_permission_id(&self.db, codename).await? {
                Some(id) => {
                    if let Some(id) = intern_id(id) {
                        self.catalog.learn([(id, codename)]);
                    }
                }
                None => return Ok(Arc::from([])),
            }
        }
        let l1 = self.cache.l1();
        if let Some(found) = l1.reach().get(user_id, codename) {
            return Ok(found);
        }
        let ticket = l1.reach().ticket(user_id);
        let found: Arc<[i64]> = query::companies_where(&self.db, user_id, codename)
            .await?
            .into();
        l1.complete_reach(ticket, codename, found.clone());
        Ok(found)
    }

    /// Every path by which the user holds `codename` in the company (always read from the
    /// database, never cached).
    pub async fn explain(
        &self,
        user_id: i64,
        company_id: i64,
        codename: &str,
    ) -> Result<Explanation> {
        let user = user::Entity::find_by_id(user_id)
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound { entity: "user" })?;
        let company = company::Entity::find_by_id(company_id)
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound { entity: "company" })?;
        let perm = permission::Entity::find()
            .filter(permission::Column::Codename.eq(codename))
            .one(&self.db)
            .await?;
        let mut grants = Vec::new();
        if user.is_superuser {
            grants.push(GrantPath::Superuser);
        }
        grants.extend(query::grant_paths(&self.db, user_id, company_id, codename).await?);
        let blocked_by = match &perm {
            None => Some("unknown permission"),
            Some(p) if !p.is_active => Some("permission inactive"),
            _ if !user.is_active || user.deleted_at.is_some() => Some("user inactive"),
            _ if !company.is_active || company.deleted_at.is_some() => Some("company inactive"),
            _ => None,
        };
        let granted = blocked_by.is_none() && !grants.is_empty();
        Ok(Explanation {
            user_id,
            company_id,
            permission: codename.to_owned(),
            granted,
            grants,
            blocked_by,
        })
    }

    /// Drops every cached set of a user (in one company, or all of them); returns how many.
    pub async fn invalidate_user(&self, user_id: i64, company_id: Option<i64>) -> u64 {
        self.announce_and_apply(&user_scope(user_id, company_id))
            .await
            .local
    }

    /// Drops the cached sets of every holder of a role; returns how many.
    pub async fn invalidate_role(&self, role_id: i64) -> Result<u64> {
        Ok(self
            .announce_and_apply(&self.affected(CacheTarget::Role(role_id)).await?)
            .await
            .local)
    }

    /// Drops the cached sets of every member of a group; returns how many.
    pub async fn invalidate_group(&self, group_id: i64) -> Result<u64> {
        Ok(self
            .announce_and_apply(&self.affected(CacheTarget::Group(group_id)).await?)
            .await
            .local)
    }

    /// Drops every cached set in a company; returns how many.
    pub async fn invalidate_company(&self, company_id: i64) -> u64 {
        self.announce_and_apply(&Affected {
            companies: vec![company_id],
            ..Affected::default()
        })
        .await
        .local
    }

    /// Drops every cached set; returns how many.
    pub async fn invalidate_all(&self) -> u64 {
        self.announce_and_apply(&Affected {
            all: true,
            ..Affected::default()
        })
        .await
        .local
    }

    /// Drops the cached sets of `target` from this process, from Redis and (through the
    /// invalidation channel) from every other process, and reports what it dropped. It
    /// returns once the invalidation is published; subscribers apply it on receipt.
    /// Unknown users, companies, roles or groups are [`Error::NotFound`].
    pub async fn invalidate_target(&self, target: CacheTarget) -> Result<InvalidationSummary> {
        match target {
            CacheTarget::All => {}
            CacheTarget::User {
                user_id,
                company_id,
            } => {
                self.ensure_exists(user::Entity::find_by_id(user_id), "user")
                    .await?;
                if let Some(c) = company_id {
                    self.ensure_exists(company::Entity::find_by_id(c), "company")
                        .await?;
                }
            }
            CacheTarget::Role(id) => {
                self.ensure_exists(role::Entity::find_by_id(id), "role")
                    .await?;
            }
            CacheTarget::Group(id) => {
                self.ensure_exists(group::Entity::find_by_id(id), "group")
                    .await?;
            }
            CacheTarget::Company(id) => {
                self.ensure_exists(company::Entity::find_by_id(id), "company")
                    .await?;
            }
        }
        let affected = self.affected(target).await?;
        Ok(self.announce_and_apply(&affected).await)
    }

    /// The cached keys `target` covers (role holders and group members read from the
    /// database; the other scopes need no query).
    async fn affected(&self, target: CacheTarget) -> Result<Affected> {
        Ok(match target {
            CacheTarget::All => Affected {
                all: true,
                ..Affected::default()
            },
            CacheTarget::User {
                user_id,
                company_id,
            } => user_scope(user_id, company_id),
            CacheTarget::Role(id) => {
                super::change::resolve(&self.db, super::Change::Role(id)).await?
            }
            CacheTarget::Group(id) => {
                super::change::resolve(&self.db, super::Change::Group(id)).await?
            }
            CacheTarget::Company(id) => Affected {
                companies: vec![id],
                ..Affected::default()
            },
        })
    }

    async fn ensure_exists<E: EntityTrait>(
        &self,
        query: sea_orm::Select<E>,
        entity: &'static str,
    ) -> Result<()> {
        match query.one(&self.db).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound { entity }),
        }
    }

    /// Drops what a committed write changed (already announced on the feed inside its
    /// transaction) from every tier and publishes it on the Redis bus.
    pub(crate) async fn apply(&self, affected: &Affected) -> u64 {
        self.apply_summarized(affected).await.local
    }

    /// An operator invalidation: applied here (Redis first), then announced on the feed
    /// when there is one. In that order the summary counts what this process deleted
    /// from Redis, not what the other processes raced it to.
    async fn announce_and_apply(&self, affected: &Affected) -> InvalidationSummary {
        let mut summary = self.apply_summarized(affected).await;
        if let Some(feed) = self.cache.feed() {
            summary.announced = Some(match feed.announce(&self.db, affected).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot announce an invalidation on the feed");
                    false
                }
            });
        }
        summary
    }

    async fn apply_summarized(&self, affected: &Affected) -> InvalidationSummary {
        let remote = self.cache.l2().is_some();
        let mut summary = InvalidationSummary {
            local: 0,
            redis: remote.then_some(0),
            published: remote,
            announced: None,
        };
        for scope in affected.scopes() {
            let report = self.cache.invalidate(&scope).await;
            summary.local += report.l1_dropped;
            if let (Some(total), Some(n)) = (summary.redis.as_mut(), report.l2_deleted) {
                *total += n;
            }
            summary.published &= report.published;
        }
        summary
    }

    /// Compares what Redis holds for (`user_id`, `company_id`) with what the database
    /// grants now. Unknown users or companies are [`Error::NotFound`].
    pub async fn inspect(&self, user_id: i64, company_id: i64) -> Result<CacheInspection> {
        self.ensure_exists(user::Entity::find_by_id(user_id), "user")
            .await?;
        self.ensure_exists(company::Entity::find_by_id(company_id), "company")
            .await?;
        let mut database: Vec<String> = query::effective_permissions(&self.db, user_id, company_id)
            .await?
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        database.sort_unstable();
        let redis = match self.cache.l2() {
            None => RedisEntry::Disabled,
            Some(l2) => match l2.raw_value(CacheKey::new(user_id, company_id)).await {
                Err(e) => RedisEntry::Unavailable {
                    error: e.to_string(),
                },
                Ok(None) => RedisEntry::Absent,
                Ok(Some(raw)) => match serde_json::from_str::<Vec<String>>(&raw) {
                    Ok(mut permissions) => {
                        permissions.sort_unstable();
                        RedisEntry::Cached { permissions }
                    }
                    Err(_) => RedisEntry::Unreadable { raw },
                },
            },
        };
        let (stale, missing) = match &redis {
            RedisEntry::Cached { permissions } => (
                permissions
                    .iter()
                    .filter(|p| database.binary_search(p).is_err())
                    .cloned()
                    .collect(),
                database
                    .iter()
                    .filter(|p| permissions.binary_search(p).is_err())
                    .cloned()
                    .collect(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(CacheInspection {
            user_id,
            company_id,
            redis,
            database,
            stale,
            missing,
        })
    }

    /// The cache configuration and the state of the Redis tier (a `PING` and a count of
    /// the sets it holds).
    pub async fn overview(&self) -> CacheOverview {
        let l1 = self.cache.l1();
        let redis = match self.cache.l2() {
            None => RedisOverview::Disabled,
            Some(l2) => match l2.ping().await {
                Err(e) => RedisOverview::Unavailable {
                    error: e.to_string(),
                },
                Ok(rtt) => match l2.count_values().await {
                    Ok(entries) => RedisOverview::Reachable {
                        round_trip_ms: rtt.as_secs_f64() * 1000.0,
                        entries,
                    },
                    Err(e) => RedisOverview::Unavailable {
                        error: e.to_string(),
                    },
                },
            },
        };
        CacheOverview {
            enabled: self.enabled,
            ttl_seconds: l1.ttl().as_secs(),
            max_entries: l1.max_entries(),
            redis,
        }
    }

    /// Round-trip time to Redis: `None` without Redis, `Some(Err)` when it does not answer.
    pub async fn redis_ping(&self) -> Option<std::result::Result<std::time::Duration, String>> {
        let l2 = self.cache.l2()?;
        Some(l2.ping().await.map_err(|e| e.to_string()))
    }

    /// Reads the set from the database (one statement), interns it, and returns it with
    /// its codenames (for the Redis tier).
    async fn load(&self, key: CacheKey) -> Result<(Arc<PermissionSet>, Vec<String>)> {
        let grants = query::effective_permissions(&self.db, key.user_id, key.company_id).await?;
        let set = self.set_of(&grants);
        Ok((set, grants.into_iter().map(|(_, name)| name).collect()))
    }

    /// Teaches the catalogue `grants` (read from the database) and returns their interned set.
    fn set_of(&self, grants: &[query::Grant]) -> Arc<PermissionSet> {
        let interned: Vec<(u32, &str)> = grants
            .iter()
            .filter_map(|(id, name)| intern_id(*id).map(|i| (i, name.as_str())))
            .collect();
        self.catalog.learn(interned.iter().copied());
        self.cache
            .l1()
            .interner()
            .intern(PermissionSet::new(interned.iter().map(|(id, _)| *id)))
    }
}

/// The keys of one user: its set in `company_id`, or all of its sets.
fn user_scope(user_id: i64, company_id: Option<i64>) -> Affected {
    match company_id {
        Some(c) => Affected {
            keys: vec![(user_id, c)],
            ..Affected::default()
        },
        None => Affected {
            users: vec![user_id],
            ..Affected::default()
        },
    }
}
