//! `fastvue keys ...`: service API keys of a company.
//!
//! Creation and revocation are audited as made by the system. The full key is printed
//! once, by `keys create`; nothing can show it again.
use chrono::{DateTime, Utc};
use clap::Subcommand;
use fastvue_core::Actor;
use fastvue_core::config::Settings;
use fastvue_core::entity::api_key;
use fastvue_core::pagination::{MAX_PAGE_SIZE, PageRequest};
use fastvue_core::service::api_keys::{ApiKeyFilter, MAX_EXPIRY_DAYS, NewApiKey};
use fastvue_core::{Error, Fastvue};

use crate::output::{self, Failure, Table, or_dash};

/// Service API keys.
#[derive(Debug, Subcommand)]
pub enum Keys {
    /// Create a key acting in a company with the given permission scopes; prints the
    /// full key once.
    Create {
        /// The company the key acts in.
        #[arg(long, value_name = "ID")]
        company: i64,
        /// Label of the key.
        #[arg(long)]
        name: String,
        /// Permission codenames, comma-separated (e.g. user.read,group.read).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Life of the key: days, e.g. 90d (or 90). Default: no expiry.
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        expires_in: Option<i64>,
        /// Requests allowed per minute. Default: no per-key limit.
        #[arg(long, value_name = "PER_MINUTE")]
        rate: Option<u32>,
        /// The user the key acts as (id, username or email); it must hold every scope in
        /// the company unless it is a superuser. Default: the oldest active superuser.
        #[arg(long, value_name = "USER")]
        created_by: Option<String>,
    },
    /// List keys (prefixes only, never the keys).
    List {
        /// Only this company's keys.
        #[arg(long, value_name = "ID")]
        company: Option<i64>,
    },
    /// Revoke a key; it stops working at once.
    Revoke {
        /// The key's prefix (the 8 characters after `fv_live_`).
        prefix: String,
    },
}

/// Runs `cmd`.
pub async fn run(json: bool, settings: Settings, cmd: Keys) -> Result<(), Failure> {
    let ctx = Actor::system();
    match cmd {
        Keys::Create {
            company,
            name,
            scopes,
            expires_in,
            rate,
            created_by,
        } => {
            let fv = super::connect(settings).await?;
            let creator = match created_by {
                Some(reference) => fv.users().resolve(&reference).await.map_err(|e| match e {
                    Error::NotFound { .. } => Failure::Failed(format!(
                        "no user {reference:?} (give an id, a username or an email)"
                    )),
                    other => other.into(),
                })?,
                None => fv.users().oldest_active_superuser().await?.ok_or_else(|| {
                    Failure::Failed("no active superuser: give --created-by".into())
                })?,
            };
            let issued = fv
                .api_keys()
                .create(
                    &ctx,
                    NewApiKey {
                        company_id: company,
                        name,
                        scopes: scopes.into_iter().map(|s| s.trim().to_owned()).collect(),
                        expires_at: expires_in.map(|d| Utc::now() + chrono::Duration::days(d)),
                        rate_limit_per_minute: rate,
                        created_by: Some(creator.id),
                    },
                )
                .await?;
            if json {
                let mut value = serde_json::to_value(&issued.key)
                    .map_err(|e| Failure::Failed(format!("cannot serialize the key: {e}")))?;
                value["scopes"] = serde_json::json!(issued.key.scope_codenames());
                value["key"] = serde_json::Value::from(issued.plaintext());
                output::json(&value);
            } else {
                println!(
                    "created API key {} (id {}) in company {}, acting as {}",
                    issued.key.prefix, issued.key.id, issued.key.company_id, creator.username
                );
                println!("{}", issued.plaintext());
                println!("Store this key now: it is not shown again.");
            }
        }
        Keys::List { company } => {
            let fv = super::connect(settings).await?;
            let keys = list_all(&fv, company).await?;
            if json {
                let values: Vec<serde_json::Value> = keys.iter().map(json_of).collect();
                output::json(&values);
            } else {
                let mut table = Table::new(&[
                    "id",
                    "prefix",
                    "company",
                    "name",
                    "status",
                    "expires",
                    "rate/min",
                    "last used",
                    "scopes",
                ]);
                let now = Utc::now();
                for k in &keys {
                    table.row(vec![
                        k.id.to_string(),
                        k.prefix.clone(),
                        k.company_id.to_string(),
                        k.name.clone(),
                        status(k, now).to_owned(),
                        or_dash(k.expires_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string())),
                        or_dash(k.rate_limit_per_minute),
                        or_dash(
                            k.last_used_at
                                .map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
                        ),
                        k.scope_codenames().join(","),
                    ]);
                }
                table.print();
            }
        }
        Keys::Revoke { prefix } => {
            let fv = super::connect(settings).await?;
            let key = match fv.api_keys().get_by_prefix(&prefix).await {
                Err(Error::NotFound { .. }) => {
                    return Err(Failure::Failed(format!(
                        "no API key with prefix {prefix:?}"
                    )));
                }
                other => other?,
            };
            let already = key.revoked_at.is_some();
            let revoked = fv.api_keys().revoke(&ctx, key.id).await?;
            if json {
                output::json(&json_of(&revoked));
            } else if already {
                println!(
                    "API key {} (id {}) was already revoked",
                    revoked.prefix, revoked.id
                );
            } else {
                println!("API key {} (id {}): revoked", revoked.prefix, revoked.id);
            }
        }
    }
    Ok(())
}

/// `90d` or `90` -> 90 (1 to the longest life a key may have).
fn parse_days(raw: &str) -> Result<i64, String> {
    let digits = raw.trim().strip_suffix('d').unwrap_or(raw.trim());
    digits
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_EXPIRY_DAYS).contains(d))
        .ok_or_else(|| format!("expected a number of days from 1 to {MAX_EXPIRY_DAYS}, e.g. 90d"))
}

fn status(k: &api_key::Model, now: DateTime<Utc>) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// A key as JSON: its row (without the hash) with the scopes as a sorted list.
fn json_of(k: &api_key::Model) -> serde_json::Value {
    let mut value = serde_json::to_value(k).unwrap_or_default();
    value["scopes"] = serde_json::json!(k.scope_codenames());
    value
}

async fn list_all(fv: &Fastvue, company: Option<i64>) -> Result<Vec<api_key::Model>, Failure> {
    let filter = ApiKeyFilter {
        company_id: company,
        ..ApiKeyFilter::default()
    };
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let request = PageRequest::new(Some(page), Some(MAX_PAGE_SIZE))?;
        let p = fv
            .api_keys()
            .list(&Actor::system(), &filter, request)
            .await?;
        out.extend(p.items);
        if page >= p.pages {
            return Ok(out);
        }
        page += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_accept_a_d_suffix_and_refuse_nonsense() {
        assert_eq!(parse_days("90d"), Ok(90));
        assert_eq!(parse_days("7"), Ok(7));
        for bad in ["0d", "-1", "d", "3w", "99999"] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
    }
}
