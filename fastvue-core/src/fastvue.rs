//! [`Fastvue`]: the one handle embedders, the server and the CLI use.
use std::sync::Arc;

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait};

use crate::auth::active_users::ActiveUsers;
#[cfg(feature = "oauth")]
use crate::auth::oauth::Provider;
#[cfg(feature = "oauth")]
use crate::auth::oauth_state::StateStore;
use crate::auth::{JwtCodec, LoginLimiter, RequestLimiter};
use crate::config::Settings;
use crate::entity::user;
use crate::error::{Error, Result};
use crate::password::PasswordHasher;
use crate::permission::feed::{FeedHealth, PgFeed};
use crate::permission::l1::L1Cache;
use crate::permission::tiered::TieredCache;
use crate::permission::{Affected, Authorizer, Change};
use crate::redis::KeySpace;
use crate::service::key_usage::KeyUsage;

/// What [`Fastvue::health`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthReport {
    /// The database answered.
    pub database: bool,
    /// Redis answered; `None` when no REDIS_URL is configured.
    pub redis: Option<bool>,
    /// The PostgreSQL invalidation feed (see [`crate::permission::feed`]); `None` on
    /// SQLite or with the cache disabled. While it is not live, permission checks and
    /// authentication read the database.
    pub feed: Option<FeedHealth>,
}

impl HealthReport {
    /// Why the process is not fully healthy, in words for an operator; empty when it is.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.database {
            reasons.push("the database does not answer".to_owned());
        }
        if self.redis == Some(false) {
            reasons.push("Redis does not answer: no shared cache".to_owned());
        }
        if let Some(feed) = self.feed
            && !feed.live
        {
            reasons.push(match feed.last_tick_age_ms {
                Some(ms) => format!(
                    "the invalidation feed has been silent for {ms} ms: permission caching suspended, checks read the database"
                ),
                None => "the invalidation feed is not live yet: permission caching suspended, checks read the database".to_owned(),
            });
        }
        reasons
    }
}

/// Cheap-to-clone handle owning the database pool, the permission cache and the Redis
/// pool; it hands out the services. Build it once with [`Fastvue::connect`].
///
/// The methods that hand out a service ([`Fastvue::users`], [`Fastvue::sign_in`], ...)
/// and [`Fastvue::bootstrap`] are defined next to the service they build, so this
/// module imports none of them.
#[derive(Clone, Debug)]
pub struct Fastvue {
    inner: Arc<Inner>,
}

/// How long start-up waits for the invalidation feed to prove itself.
const FEED_START_WAIT: Duration = Duration::from_secs(3);

/// Users kept by the authenticated-user cache (an entry is about 1 KiB).
const ACTIVE_USERS_CAPACITY: u64 = 100_000;

#[derive(Debug)]
struct Inner {
    db: DatabaseConnection,
    settings: Settings,
    hasher: PasswordHasher,
    authorizer: Authorizer,
    jwt: JwtCodec,
    login_limiter: LoginLimiter,
    request_limiter: RequestLimiter,
    key_usage: KeyUsage,
    active_users: ActiveUsers,
    #[cfg(feature = "oauth")]
    oauth: Vec<Provider>,
    #[cfg(feature = "oauth")]
    oauth_states: StateStore,
    mailer: crate::mail::Mailer,
    totals: crate::service::totals::Totals,
}

impl Fastvue {
    /// Connects to the database of `settings`, applies pending migrations and sets up
    /// the permission cache. Does not seed: call [`Fastvue::bootstrap`] for that.
    pub async fn connect(settings: Settings) -> Result<Self> {
        let db = crate::db::connect(&settings).await?;
        crate::db::migrate(&db).await?;
        Self::with_database(settings, db).await
    }

    /// Builds the handle over an existing, migrated connection. With REDIS_URL set it
    /// also sets up the Redis tier and subscribes to the invalidation channel (without
    /// waiting for Redis: a Redis outage never prevents start-up or fails a check).
    pub async fn with_database(settings: Settings, db: DatabaseConnection) -> Result<Self> {
        let a = &settings.argon2;
        let limits = &settings.limits;
        let hasher = PasswordHasher::with_limits(
            a.memory_kib,
            a.iterations,
            a.parallelism,
            limits.hash_concurrency as usize,
            limits.hash_queue as usize,
        )?;
        let cache = &settings.cache;
        let l1 = L1Cache::new(cache.permission_max_entries, cache.permission_ttl);
        let mut tiers = match &settings.redis.url {
            Some(url) => TieredCache::connect(
                l1,
                url,
                settings.redis.pool_size,
                settings.redis.pool_timeout,
                cache.permission_ttl,
                KeySpace::new(&settings.redis.key_prefix),
            )
            .map_err(|e| Error::Internal(format!("REDIS_URL: {e}")))?,
            None => TieredCache::local(l1),
        };
        // On PostgreSQL every process may share the database with others: it hears their
        // changes through the invalidation feed, and caches only while it can prove it does.
        if let Some((listen_url, _)) = settings.feed_url() {
            tiers.start_feed(listen_url, cache.max_staleness);
        }
        let authorizer = Authorizer::new(db.clone(), cache.enabled, tiers);
        if let Some(feed) = authorizer.cache().feed()
            && !feed.wait_live(FEED_START_WAIT).await
        {
            tracing::warn!(
                "invalidation feed not live yet; permission checks read the database until it is"
            );
        }
        let jwt = JwtCodec::from_settings(&settings);
        // The limiters and the sign-in state share the permission cache's Redis pool and
        // key prefix.
        let redis = authorizer.cache().l2().map(|tier| tier.redis());
        let login_limiter = LoginLimiter::new(settings.rate_limit_login_per_minute, redis.as_ref());
        let request_limiter = RequestLimiter::new(redis.as_ref());
        #[cfg(feature = "oauth")]
        let oauth = Provider::all_from_settings(&settings)?;
        #[cfg(not(feature = "oauth"))]
        if !settings.oauth.providers.is_empty() {
            return Err(Error::Internal(
                "OAUTH_PROVIDERS is set, but fastvue-core was built without its oauth feature"
                    .into(),
            ));
        }
        // Pending provider sign-ins live in Redis when there is one (any replica can finish
        // a flow), else in the database.
        #[cfg(feature = "oauth")]
        let oauth_states = StateStore::new(redis.as_ref());
        let active_users = ActiveUsers::new(cache.enabled, ACTIVE_USERS_CAPACITY);
        let mailer = crate::mail::Mailer::start(&settings.mail)?;
        let totals = crate::service::totals::Totals::new(cache.enabled);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                settings,
                hasher,
                authorizer,
                jwt,
                login_limiter,
                request_limiter,
                key_usage: KeyUsage::new(ACTIVE_USERS_CAPACITY),
                active_users,
                #[cfg(feature = "oauth")]
                oauth,
                #[cfg(feature = "oauth")]
                oauth_states,
                mailer,
                totals,
            }),
        })
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so concurrent
    /// writers queue on the busy timeout instead of failing with "database is locked"
    /// when a read-then-write transaction upgrades; PostgreSQL ignores the option.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction> {
        crate::db::begin_write(&self.inner.db).await
    }

    /// The database pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The settings this handle was built from.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The password hasher (argon2id with the configured cost).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// Permission checks and cache invalidation.
    pub fn authorizer(&self) -> &Authorizer {
        &self.inner.authorizer
    }

    /// Signs and verifies access and refresh tokens.
    pub fn jwt(&self) -> &JwtCodec {
        &self.inner.jwt
    }

    /// The failed sign-in limiter (`RATE_LIMIT_LOGIN_PER_MINUTE`).
    pub fn login_limiter(&self) -> &LoginLimiter {
        &self.inner.login_limiter
    }

    /// Per-minute counters: requests of API keys, sign-in attempts and Google sign-ins
    /// started per client IP.
    pub fn request_limiter(&self) -> &RequestLimiter {
        &self.inner.request_limiter
    }

    /// Outgoing mail (see [`crate::mail`]).
    pub fn mailer(&self) -> &crate::mail::Mailer {
        &self.inner.mailer
    }

    /// When this process last wrote each API key's `last_used_at`.
    pub(crate) fn key_usage(&self) -> &KeyUsage {
        &self.inner.key_usage
    }

    /// Remembered totals of numbered list pages (see [`crate::service::totals`]).
    pub(crate) fn totals(&self) -> &crate::service::totals::Totals {
        &self.inner.totals
    }

    /// Recently authenticated users (see [`ActiveUsers`]).
    pub(crate) fn active_users(&self) -> &ActiveUsers {
        &self.inner.active_users
    }

    /// The user `id` if it may act (active, not deleted), through the cache of
    /// authenticated users: the one definition every credential (access token, API key
    /// creator) is checked against.
    pub async fn active_user(&self, id: i64) -> Result<Option<user::Model>> {
        let db = self.db();
        self.active_users()
            .user(self.authorizer().l1(), id, async || {
                Ok(user::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .filter(|u| u.is_active && u.deleted_at.is_none()))
            })
            .await
    }

    /// The enabled sign-in providers (see [`Fastvue::oauth`]).
    #[cfg(feature = "oauth")]
    pub(crate) fn enabled_oauth_providers(&self) -> &[Provider] {
        &self.inner.oauth
    }

    /// Where started provider sign-ins wait for their callback.
    #[cfg(feature = "oauth")]
    pub(crate) fn oauth_states(&self) -> &StateStore {
        &self.inner.oauth_states
    }

    /// The enabled sign-in providers, in configuration order.
    #[cfg(feature = "oauth")]
    pub fn oauth_providers(&self) -> impl Iterator<Item = &crate::config::ProviderSettings> {
        self.inner.oauth.iter().map(Provider::settings)
    }

    /// Whether the database and (when configured) Redis answer.
    pub async fn health(&self) -> HealthReport {
        HealthReport {
            database: self.inner.db.execute_unprepared("SELECT 1").await.is_ok(),
            redis: self.inner.authorizer.redis_ping().await.map(|r| r.is_ok()),
            feed: self.inner.authorizer.cache().feed().map(PgFeed::health),
        }
    }

    /// Commits a write that changed effective permissions: `affected` (resolved inside
    /// `txn`, see [`crate::permission::resolve`]) is announced on the PostgreSQL feed in
    /// the transaction itself, so every replica hears it exactly when it commits, then
    /// dropped from this process's tiers and published on the Redis bus.
    pub(crate) async fn commit(&self, txn: DatabaseTransaction, affected: Affected) -> Result<()> {
        if !affected.is_empty()
            && let Some(feed) = self.inner.authorizer.cache().feed()
        {
            feed.announce(&txn, &affected).await?;
        }
        txn.commit().await?;
        self.apply_invalidation(affected).await;
        Ok(())
    }

    /// [`Fastvue::commit`] of the changes `changes`, resolved inside `txn` first.
    pub(crate) async fn commit_changes(
        &self,
        txn: DatabaseTransaction,
        changes: &[Change],
    ) -> Result<()> {
        let mut affected = Affected::default();
        for change in changes {
            affected.merge(crate::permission::resolve(&txn, *change).await?);
        }
        self.commit(txn, affected).await
    }

    /// Applies a resolved change after its transaction committed.
    pub(crate) async fn apply_invalidation(&self, affected: Affected) {
        if !affected.is_empty() {
            self.inner.authorizer.apply(&affected).await;
        }
    }
}
