//! Cache administration for actors (the `/admin/cache` routes): who may drop which
//! cached permission sets, and read the cache counters. Operators use
//! [`crate::permission::Authorizer::invalidate_target`] directly.
use crate::Fastvue;
use crate::codenames;
use crate::error::{Error, Result};
use crate::permission::l1::L1Stats;
use crate::permission::{CacheTarget, InvalidationSummary};
use crate::policy::Actor;

const MANAGE: &str = codenames::CACHE_MANAGE;

/// This process's permission-cache counters and configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheCounters {
    /// Whether permission caching is on (`CACHE_ENABLED`).
    pub enabled: bool,
    /// The in-process tier's counters.
    pub l1: L1Stats,
    /// Capacity (`PERMISSION_CACHE_MAX_ENTRIES`).
    pub max_entries: u64,
    /// Time-to-live of a set, seconds (`PERMISSION_CACHE_TTL`).
    pub ttl_seconds: u64,
    /// The Redis tier: `disabled` (no REDIS_URL), `ok`, or `degraded` (recent failures).
    pub redis: &'static str,
}

/// Cache administration; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct CacheAdmin<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Cache administration for actors (the `/admin/cache` routes).
    pub fn cache_admin(&self) -> CacheAdmin<'_> {
        CacheAdmin { fv: self }
    }
}

impl CacheAdmin<'_> {
    /// Drops the cached sets of `target` in this process, in Redis and (through the bus)
    /// in every other replica, after checking that the actor may: `cache.manage` in its
    /// active company, and in the company of the user (a non-superuser names one, by
    /// default its active company; the user must be a member there), role, group or
    /// company named ([`Error::NotFound`] outside its scope). Flushing everything and
    /// the holders of a global role: superusers only ([`Error::Forbidden`]).
    pub async fn invalidate(
        &self,
        actor: &Actor,
        target: CacheTarget,
    ) -> Result<InvalidationSummary> {
        let fv = self.fv;
        actor.require(fv, MANAGE).await?;
        let target = match target {
            CacheTarget::All if !actor.is_superuser() => {
                return Err(Error::Forbidden(
                    "only superusers may flush the whole cache".into(),
                ));
            }
            CacheTarget::User {
                user_id,
                company_id,
            } if !actor.is_superuser() => {
                let c = match company_id {
                    Some(c) => c,
                    None => actor.active_company()?,
                };
                actor.ensure_visible(fv, c, MANAGE, "company").await?;
                if !fv.assignments().is_member(user_id, c).await? {
                    return Err(Error::NotFound { entity: "user" });
                }
                CacheTarget::User {
                    user_id,
                    company_id: Some(c),
                }
            }
            CacheTarget::Role(role_id) => {
                let r = crate::service::lookup::role(fv.db(), role_id).await?;
                match r.company_id {
                    Some(c) => actor.ensure_visible(fv, c, MANAGE, "role").await?,
                    None if !actor.is_superuser() => {
                        return Err(Error::Forbidden(
                            "only superusers may invalidate the holders of a global role".into(),
                        ));
                    }
                    None => {}
                }
                target
            }
            CacheTarget::Group(group_id) => {
                let g = crate::service::groups::find(fv.db(), group_id).await?;
                actor
                    .ensure_visible(fv, g.company_id, MANAGE, "group")
                    .await?;
                target
            }
            CacheTarget::Company(company_id) => {
                actor
                    .ensure_visible(fv, company_id, MANAGE, "company")
                    .await?;
                target
            }
            other => other,
        };
        let summary = fv.authorizer().invalidate_target(target).await?;
        tracing::info!(
            actor_id = actor.user_id(),
            ?target,
            invalidated = summary.local,
            "permission cache invalidated by request"
        );
        Ok(summary)
    }

    /// This process's counters (`cache.manage` in the active company).
    pub async fn counters(&self, actor: &Actor) -> Result<CacheCounters> {
        let fv = self.fv;
        actor.require(fv, MANAGE).await?;
        let cache = fv.authorizer().cache();
        let settings = &fv.settings().cache;
        Ok(CacheCounters {
            enabled: settings.enabled,
            l1: cache.l1().stats(),
            max_entries: settings.permission_max_entries,
            ttl_seconds: settings.permission_ttl.as_secs(),
            redis: match cache.l2() {
                None => "disabled",
                Some(l2) if l2.is_degraded() => "degraded",
                Some(_) => "ok",
            },
        })
    }
}
