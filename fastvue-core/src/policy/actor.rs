//! [`Actor`]: who is acting, and the checks every core service makes with it.
use std::sync::Arc;

use crate::Fastvue;
use crate::auth::TokenError;
use crate::entity::user;
use crate::error::{Error, Result};

use super::held::{Held, Scope};

/// Who is acting. Every core service that a non-superuser can reach takes one and
/// decides itself whether it may act; build it with [`Actors`] (from an access token,
/// an API key or a user id) or [`Actor::system`].
///
/// - **The system** (bootstrap, `data load`, operator commands of the CLI) passes every
///   check: code that bypasses the rules says so by using it.
/// - **A user** acts in its active company (`X-Company-ID`, else its current company)
///   with the permissions it holds there; a superuser holds everything everywhere.
/// - **An API key** acts as its creator, only in the key's company and only with the
///   key's scopes that the creator holds there now; it is never a superuser.
#[derive(Debug, Clone)]
pub struct Actor {
    kind: Kind,
    company_id: Option<i64>,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Kind {
    System,
    User(user::Model),
    Key {
        creator: user::Model,
        grant: KeyGrant,
    },
}

/// What an API key allows: its company and scopes (the secret is not kept).
#[derive(Debug, Clone)]
pub struct KeyGrant {
    /// The key's id.
    pub key_id: i64,
    /// The only company the key acts in.
    pub company_id: i64,
    /// The permission codenames the key may use, sorted.
    pub scopes: Arc<[String]>,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Client IP address.
    pub ip_address: Option<String>,
    /// Request id (`X-Request-ID`).
    pub request_id: Option<String>,
    /// `User-Agent` (cut to 255 characters), for sessions and sign-in history.
    pub user_agent: Option<String>,
}

impl Origin {
    /// The client IP, or `unknown` (the key rate limits count under).
    pub fn ip(&self) -> &str {
        self.ip_address.as_deref().unwrap_or("unknown")
    }
}

impl Actor {
    /// The system acting on its own (bootstrap, `data load`, operator commands): passes
    /// every check.
    pub fn system() -> Self {
        Self {
            kind: Kind::System,
            company_id: None,
            origin: Origin::default(),
        }
    }

    /// `user` acting in `company_id`, without checking that it may act there (use
    /// [`Actors::for_user`] for that; an actor outside its company simply holds
    /// nothing there).
    pub(crate) fn user(user: user::Model, company_id: Option<i64>) -> Self {
        Self {
            kind: Kind::User(user),
            company_id,
            origin: Origin::default(),
        }
    }

    /// The same actor with the origin of the request it acts for.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Whether this is the system.
    pub fn is_system(&self) -> bool {
        matches!(self.kind, Kind::System)
    }

    /// Whether the actor holds every permission everywhere: the system, or a superuser
    /// acting as itself (never through an API key).
    pub fn is_superuser(&self) -> bool {
        match &self.kind {
            Kind::System => true,
            Kind::User(u) => u.is_superuser,
            Kind::Key { .. } => false,
        }
    }

    /// The acting user (an API key's creator); `None` for the system.
    pub fn user_model(&self) -> Option<&user::Model> {
        match &self.kind {
            Kind::System => None,
            Kind::User(u) | Kind::Key { creator: u, .. } => Some(u),
        }
    }

    /// The acting user's id (an API key's creator); `None` for the system.
    pub fn user_id(&self) -> Option<i64> {
        self.user_model().map(|u| u.id)
    }

    /// The API key this actor acts through, if any.
    pub fn key(&self) -> Option<&KeyGrant> {
        match &self.kind {
            Kind::Key { grant, .. } => Some(grant),
            _ => None,
        }
    }

    /// The company this actor acts in, if any (always the key's company for a key).
    pub fn company_id(&self) -> Option<i64> {
        self.company_id
    }

    /// Where the request came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The active company, or [`Error::Forbidden`] when the actor has none.
    pub fn active_company(&self) -> Result<i64> {
        self.company_id.ok_or_else(|| {
            Error::Forbidden("no active company: send X-Company-ID or switch company".into())
        })
    }

    /// The user of a person's own session: [`Error::Forbidden`] for an API key (keys
    /// cannot use profile, password, company-switching or linked-account operations)
    /// and for the system.
    pub fn session_user(&self) -> Result<&user::Model> {
        match &self.kind {
            Kind::User(u) => Ok(u),
            Kind::Key { .. } => Err(Error::Forbidden(
                "this route needs a user's session; API keys cannot use it".into(),
            )),
            Kind::System => Err(Error::Forbidden("this operation needs a user".into())),
        }
    }

    /// Whether the actor holds `codename` in `company_id`. Allocation-free on a warm
    /// permission cache.
    pub async fn can(&self, fv: &Fastvue, company_id: i64, codename: &str) -> Result<bool> {
        let user = match &self.kind {
            Kind::System => return Ok(true),
            Kind::User(u) => u,
            Kind::Key { creator, grant } => {
                if company_id != grant.company_id
                    || grant
                        .scopes
                        .binary_search_by(|s| s.as_str().cmp(codename))
                        .is_err()
                {
                    return Ok(false);
                }
                creator
            }
        };
        // A superuser (or, within its scopes, a superuser's key) holds everything.
        if user.is_superuser {
            return Ok(true);
        }
        fv.authorizer().has(user.id, company_id, codename).await
    }

    /// Every permission the actor holds in `company_id` (through the permission cache).
    pub async fn held(&self, fv: &Fastvue, company_id: i64) -> Result<Held> {
        let (user, scopes) = match &self.kind {
            Kind::System => return Ok(Held::All),
            Kind::User(u) => (u, None),
            Kind::Key { creator, grant } => {
                if company_id != grant.company_id {
                    return Ok(Held::nothing());
                }
                (creator, Some(&grant.scopes))
            }
        };
        let held = if user.is_superuser {
            Held::All
        } else {
            Held::of(fv.authorizer().codenames(user.id, company_id).await?)
        };
        Ok(match scopes {
            Some(scopes) => held.restricted_to(scopes),
            None => held,
        })
    }

    /// The guard of every operation: the actor holds `codename` in its active company
    /// (the system and superusers always do, with or without one). Returns the active
    /// company; [`Error::Forbidden`] otherwise.
    pub async fn require(&self, fv: &Fastvue, codename: &str) -> Result<Option<i64>> {
        if self.is_superuser() {
            return Ok(self.company_id);
        }
        let company_id = self.active_company()?;
        if self.can(fv, company_id, codename).await? {
            Ok(Some(company_id))
        } else {
            Err(Error::Forbidden(format!("missing permission {codename}")))
        }
    }

    /// [`Error::Forbidden`] unless the actor holds `codename` in `company_id`: for a
    /// company named in a request body.
    pub async fn require_in(&self, fv: &Fastvue, company_id: i64, codename: &str) -> Result<()> {
        if self.can(fv, company_id, codename).await? {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "you lack `{codename}` in company {company_id}"
            )))
        }
    }

    /// [`Error::NotFound`] (`entity`) unless the actor holds `codename` in
    /// `company_id`: rows of companies outside its scope look like rows that do not exist.
    pub async fn ensure_visible(
        &self,
        fv: &Fastvue,
        company_id: i64,
        codename: &str,
        entity: &'static str,
    ) -> Result<()> {
        if self.can(fv, company_id, codename).await? {
            Ok(())
        } else {
            Err(Error::NotFound { entity })
        }
    }

    /// The companies where the actor holds `codename`: its own and those it inherits
    /// below its `subtree` grants ([`Authorizer::companies_where`](crate::permission::Authorizer::companies_where)),
    /// the key's company for an API key, every company for a superuser.
    pub async fn scope(&self, fv: &Fastvue, codename: &str) -> Result<Scope> {
        if self.is_superuser() {
            return Ok(Scope::All);
        }
        if let Some(grant) = self.key() {
            let held = self.can(fv, grant.company_id, codename).await?;
            return Ok(Scope::Companies(if held {
                vec![grant.company_id]
            } else {
                Vec::new()
            }));
        }
        let Some(user_id) = self.user_id() else {
            return Ok(Scope::Companies(Vec::new()));
        };
        let held = fv.authorizer().companies_where(user_id, codename).await?;
        Ok(Scope::Companies(held.to_vec()))
    }

    /// [`Actor::scope`] for a list filtered by `company_id`: a company outside the scope
    /// is [`Error::NotFound`], as if it did not exist.
    pub async fn list_scope(
        &self,
        fv: &Fastvue,
        codename: &str,
        company_id: Option<i64>,
    ) -> Result<Scope> {
        let scope = self.scope(fv, codename).await?;
        match company_id {
            Some(c) if !scope.contains(c) => Err(Error::NotFound { entity: "company" }),
            _ => Ok(scope),
        }
    }

    /// [`Error::Forbidden`] naming every codename of `wanted` the actor does not hold
    /// over the whole subtree of `company_id`: through its own `subtree` assignments and
    /// memberships there or above, which hold in every company below, present or future
    /// (the [escalation invariant](crate::policy::escalation) for `subtree` grants).
    pub(crate) async fn ensure_holds_over_subtree<'a>(
        &self,
        fv: &Fastvue,
        company_id: i64,
        wanted: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if self.is_superuser() {
            return Ok(());
        }
        let (user, scopes) = match &self.kind {
            Kind::System => return Ok(()),
            Kind::User(u) => (u, None),
            Kind::Key { creator, grant } => (creator, Some(&grant.scopes)),
        };
        let grants = if self.key().is_some_and(|k| k.company_id != company_id) {
            Vec::new()
        } else {
            crate::permission::query::subtree_permissions(fv.db(), user.id, company_id).await?
        };
        let mut held = Held::of(grants.into_iter().map(|(_, c)| c.into()).collect());
        if let Some(scopes) = scopes {
            held = held.restricted_to(scopes);
        }
        let missing = held.missing(wanted);
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "you cannot grant on the subtree of company {company_id} permissions you do not \
             hold over that whole subtree (through subtree-scoped grants): {}",
            missing.join(", ")
        )))
    }

    /// [`Error::Forbidden`] naming every codename of `wanted` the actor does not hold in
    /// `company_id` (`what` says what would be given: "grant", "give a key").
    pub(crate) async fn ensure_holds_all<'a>(
        &self,
        fv: &Fastvue,
        company_id: i64,
        wanted: impl IntoIterator<Item = &'a str>,
        what: &str,
    ) -> Result<()> {
        if self.is_superuser() {
            return Ok(());
        }
        let missing = self.held(fv, company_id).await?.missing(wanted);
        if missing.is_empty() {
            return Ok(());
        }
        let through_key = if self.key().is_some() {
            " (through this API key)"
        } else {
            ""
        };
        Err(Error::Forbidden(format!(
            "you cannot {what} permissions you do not hold in company {company_id}{through_key}: {}",
            missing.join(", ")
        )))
    }
}

/// Builds actors from credentials: the one place a request's caller is resolved.
#[derive(Debug, Clone, Copy)]
pub struct Actors<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Builds the [`crate::Actor`] of a request from its credentials.
    pub fn actors(&self) -> Actors<'_> {
        Actors { fv: self }
    }
}

impl Actors<'_> {
    /// The actor of an access token, acting in `requested` (`X-Company-ID`: it must hold
    /// an active role there, or be a superuser and the company must exist; else
    /// [`Error::Forbidden`]), else in its current company, else (a regular user without
    /// one) in the first company where it holds an active role.
    pub async fn from_access_token(
        &self,
        token: &str,
        requested: Option<i64>,
    ) -> Result<Actor, TokenError> {
        let user = self.fv.tokens().verify_access(token).await?;
        Ok(self.acting_in(user, requested).await?)
    }

    /// The actor of a presented API key: its creator, in the key's company, with the
    /// key's scopes. Counts the request against the key's rate limit
    /// ([`Error::RateLimited`]); a `requested` company other than the key's is
    /// [`Error::Forbidden`].
    pub async fn from_api_key(
        &self,
        presented: &str,
        requested: Option<i64>,
    ) -> Result<Actor, TokenError> {
        let found = self.fv.api_keys().authenticate(presented).await?;
        if let Some(retry_after) = self.fv.api_keys().rate_limit(&found.key).await {
            return Err(Error::RateLimited {
                message: "this API key has used up its requests for this minute".into(),
                retry_after,
            }
            .into());
        }
        let company_id = found.key.company_id;
        if requested.is_some_and(|id| id != company_id) {
            return Err(
                Error::Forbidden("this API key acts only in its own company".into()).into(),
            );
        }
        let mut scopes = found.key.scope_codenames();
        scopes.sort_unstable();
        scopes.dedup();
        Ok(Actor {
            kind: Kind::Key {
                creator: found.creator,
                grant: KeyGrant {
                    key_id: found.key.id,
                    company_id,
                    scopes: scopes.into(),
                },
            },
            company_id: Some(company_id),
            origin: Origin::default(),
        })
    }

    /// The active user `user_id` acting in `requested` (checked as for an access
    /// token): how an embedding service that authenticates its own callers gets the
    /// same rules. An unknown, inactive or deleted user is [`Error::NotFound`].
    pub async fn for_user(&self, user_id: i64, requested: Option<i64>) -> Result<Actor> {
        let user = self
            .fv
            .active_user(user_id)
            .await?
            .ok_or(Error::NotFound { entity: "user" })?;
        self.acting_in(user, requested).await
    }

    async fn acting_in(&self, user: user::Model, requested: Option<i64>) -> Result<Actor> {
        let company_id = match requested {
            Some(id) => {
                self.ensure_may_act_in(&user, id).await?;
                Some(id)
            }
            None => match user.current_company_id {
                Some(id) => Some(id),
                None if user.is_superuser => None,
                None => self
                    .fv
                    .assignments()
                    .companies_of(user.id)
                    .await?
                    .first()
                    .copied(),
            },
        };
        Ok(Actor::user(user, company_id))
    }

    /// [`Error::Forbidden`] unless `user` holds an active role in `company_id`; a
    /// superuser may act in any existing company.
    pub async fn ensure_may_act_in(&self, user: &user::Model, company_id: i64) -> Result<()> {
        let allowed = if user.is_superuser {
            match crate::service::lookup::company(self.fv.db(), company_id).await {
                Ok(_) => true,
                Err(Error::NotFound { .. }) => false,
                Err(e) => return Err(e),
            }
        } else {
            self.fv.assignments().is_member(user.id, company_id).await?
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "you are not a member of this company".into(),
            ))
        }
    }
}
