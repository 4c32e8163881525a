//! [`TwoFactor`]: time-based one-time codes (TOTP, RFC 6238) as a second sign-in factor,
//! with single-use recovery codes.
//!
//! - **Enrolment.** [`TwoFactor::setup`] makes a fresh secret (160 bits) and answers it
//!   with its `otpauth://` URI and a QR code; [`TwoFactor::confirm`] turns two-factor
//!   sign-in on once a code from the authenticator matches, and answers
//!   [`RECOVERY_CODES`] recovery codes, shown once.
//! - **At rest.** The secret is encrypted with XChaCha20-Poly1305 under a key derived
//!   from `SECRET_KEY` (HKDF-SHA256), bound to the user id; recovery codes are kept as
//!   keyed hashes (HMAC-SHA256 under `SECRET_KEY`). Changing `SECRET_KEY` makes existing
//!   enrolments unreadable: their owners then need an administrator's reset.
//! - **Codes are accepted once.** A code matches the current 30-second step or one step
//!   either side; the matched step must be later than the last accepted one, checked and
//!   recorded by one conditional `UPDATE`, so a code cannot be replayed, not even by two
//!   replicas at once.
//! - **Guessing is bounded per account**, on every replica: each attempt first takes one
//!   of [`MAX_ATTEMPTS`] slots of a [`ATTEMPT_WINDOW`] window in the database (one
//!   conditional `UPDATE`); a correct code frees them. Past that, [`Error::RateLimited`].
//! - **Turning it off** needs the password and a code (or a recovery code); an
//!   administrator who may change the account (the dominance rule of
//!   [`crate::service::Users::update`]) can reset it, audited; so can the operator's
//!   `fastvue users reset-2fa`.
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::Fastvue;
use crate::auth::keyed;
use crate::entity::{recovery_code, two_factor, user};
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::service::audit::{self, AuditContext, Entry};
use crate::sql::statement;

/// Recovery codes made at confirmation (each works once).
pub const RECOVERY_CODES: usize = 10;
/// Code attempts allowed per account in one [`ATTEMPT_WINDOW`] before a correct code.
pub const MAX_ATTEMPTS: i32 = 5;
/// Length of the attempt window.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(300);
/// Seconds per TOTP step.
const STEP: u64 = 30;
/// Secret length in bytes (RFC 4226 recommends 160 bits).
const SECRET_BYTES: usize = 20;
/// Longest code or recovery code looked at; longer input is refused unread.
const MAX_INPUT: usize = 64;
/// Recovery codes are 12 characters of this alphabet, shown as `xxxx-xxxx-xxxx`.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 12;
const KDF_INFO: &[u8] = b"fastvue-rs totp secret v1";

/// A fresh secret to add to an authenticator app.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret, base32 (for manual entry).
    pub secret: String,
    /// `otpauth://totp/...` URI (what the QR code holds).
    pub otpauth_uri: String,
    /// The QR code as an SVG `data:` URI, ready for an `<img src>`.
    pub qr_svg: String,
}

/// Whether and how a user signs in with a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Sign-in asks for a code.
    pub enabled: bool,
    /// A setup waits for its first code.
    pub pending: bool,
    /// When it was turned on.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Unspent recovery codes.
    pub recovery_codes_left: u64,
    /// A company of the user requires two-factor sign-in.
    pub required: bool,
}

/// What proves the second factor.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A 6-digit code from the authenticator.
    Code(&'a str),
    /// One of the recovery codes (spent by its use).
    RecoveryCode(&'a str),
}

/// Two-factor sign-in; reach it through [`Fastvue::two_factor`].
#[derive(Debug, Clone, Copy)]
pub struct TwoFactor<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Two-factor sign-in: enrolment, recovery codes, reset.
    pub fn two_factor(&self) -> TwoFactor<'_> {
        TwoFactor { fv: self }
    }
}

impl TwoFactor<'_> {
    /// The caller's two-factor state (its own session only).
    pub async fn status(&self, actor: &Actor) -> Result<Status> {
        let user = actor.session_user()?;
        self.status_of(user.id).await
    }

    /// `user_id`'s two-factor state.
    pub async fn status_of(&self, user_id: i64) -> Result<Status> {
        let db = self.fv.db();
        let row = two_factor::Entity::find_by_id(user_id).one(db).await?;
        let left = recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(db)
            .await?;
        Ok(Status {
            enabled: row.as_ref().is_some_and(|r| r.confirmed_at.is_some()),
            pending: row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
            confirmed_at: row.and_then(|r| r.confirmed_at),
            recovery_codes_left: left,
            required: self.is_required(user_id).await?,
        })
    }

    /// Whether sign-in asks `user_id` for a code.
    pub async fn is_enabled(&self, user_id: i64) -> Result<bool> {
        Ok(two_factor::Entity::find_by_id(user_id)
            .one(self.fv.db())
            .await?
            .is_some_and(|r| r.confirmed_at.is_some()))
    }

    /// Whether a company where `user_id` holds a role (or inherits one from a `subtree`
    /// assignment above it) requires two-factor sign-in.
    pub async fn is_required(&self, user_id: i64) -> Result<bool> {
        crate::permission::query::member_of_2fa_company(self.fv.db(), user_id).await
    }

    /// Starts (or restarts) the caller's enrolment: a new secret, not yet used for
    /// sign-in. [`Error::Conflict`] when two-factor sign-in is already on.
    pub async fn setup(&self, actor: &Actor) -> Result<Enrolment> {
        let user = actor.session_user()?;
        self.begin(user).await
    }

    /// Turns two-factor sign-in on with a first `code` from the authenticator; answers
    /// the recovery codes (shown once). A wrong code is [`Error::Validation`] on `code`.
    pub async fn confirm(&self, actor: &Actor, code: &str) -> Result<Vec<String>> {
        let user = actor.session_user()?;
        self.finish(&actor.audit(), user, code).await
    }

    /// Turns two-factor sign-in off: needs the caller's `password` and a proof
    /// (code or recovery code). Recovery codes are deleted; audited.
    pub async fn disable(&self, actor: &Actor, password: &str, proof: Proof<'_>) -> Result<()> {
        let user = actor.session_user()?;
        let phc = user.password_hash.clone();
        let password_ok = self
            .fv
            .hasher()
            .verify_async(password.to_owned(), phc)
            .await?;
        if !password_ok {
            return Err(Error::invalid("password", "wrong password"));
        }
        self.require_proof(user.id, proof).await?;
        self.remove(&actor.audit(), user.id, "disable_2fa").await
    }

    /// Replaces the caller's recovery codes after a proof; answers the new ones.
    pub async fn regenerate_recovery_codes(
        &self,
        actor: &Actor,
        proof: Proof<'_>,
    ) -> Result<Vec<String>> {
        let user = actor.session_user()?;
        self.require_proof(user.id, proof).await?;
        let txn = self.fv.begin_write().await?;
        let codes = replace_recovery_codes(self.fv, &txn, user.id).await?;
        audit::record(
            &txn,
            &actor.audit(),
            entry("regenerate_recovery_codes", user.id),
        )
        .await?;
        txn.commit().await?;
        Ok(codes)
    }

    /// Turns off another user's two-factor sign-in (they lost their device). Needs
    /// `user.update` over the user and the account rules of
    /// [`crate::service::Users::update`]; audited. Nobody resets their own this way.
    pub async fn reset(&self, actor: &Actor, user_id: i64) -> Result<()> {
        let fv = self.fv;
        if !actor.is_system() {
            let target = fv.users().get_for_change(actor, user_id).await?;
            if actor.user_id() == Some(target.id) {
                return Err(Error::Forbidden(
                    "turn off your own two-factor sign-in with POST /auth/2fa/disable".into(),
                ));
            }
        } else {
            crate::service::lookup::user(fv.db(), user_id).await?;
        }
        self.remove(&actor.audit(), user_id, "reset_2fa").await
    }

    /// A new pending secret for `user` (replacing a pending one).
    pub(crate) async fn begin(&self, user: &user::Model) -> Result<Enrolment> {
        let db = self.fv.db();
        if self.is_enabled(user.id).await? {
            return Err(Error::Conflict {
                field: None,
                message: "two-factor sign-in is already on; turn it off first".into(),
            });
        }
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill(&mut bytes[..]);
        let totp = self.totp(&bytes, Some(&user.email))?;
        let uri = totp
            .to_url()
            .map_err(|e| Error::Internal(format!("otpauth URI: {e}")))?;
        let qr = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| Error::Internal(format!("QR code: {e}")))?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        let now = Utc::now();
        let sealed = self.seal(user.id, &bytes)?;
        two_factor::Entity::delete_by_id(user.id).exec(db).await?;
        two_factor::ActiveModel {
            user_id: Set(user.id),
            secret_enc: Set(sealed),
            confirmed_at: Set(None),
            last_used_step: Set(None),
            failures: Set(0),
            failures_since: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok(Enrolment {
            secret: Secret::from(bytes).to_base32(),
            otpauth_uri: uri,
            qr_svg: format!(
                "data:image/svg+xml;base64,{}",
                STANDARD.encode(qr.as_bytes())
            ),
        })
    }

    /// Confirms `user`'s pending enrolment with `code`; answers the recovery codes.
    pub(crate) async fn finish(
        &self,
        ctx: &AuditContext,
        user: &user::Model,
        code: &str,
    ) -> Result<Vec<String>> {
        let row = two_factor::Entity::find_by_id(user.id)
            .one(self.fv.db())
            .await?;
        let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
            return Err(Error::Conflict {
                field: None,
                message: "no two-factor setup is pending; call setup first".into(),
            });
        };
        self.take_attempt(user.id).await?;
        let Some(step) = self.matching_step(&row, code)? else {
            return Err(wrong_code("code"));
        };
        let txn = self.fv.begin_write().await?;
        let now = Utc::now();
        let confirmed = two_factor::Entity::update_many()
            .col_expr(two_factor::Column::ConfirmedAt, now.into())
            .col_expr(two_factor::Column::LastUsedStep, step.into())
            .col_expr(two_factor::Column::Failures, 0.into())
            .col_expr(two_factor::Column::UpdatedAt, now.into())
            .filter(two_factor::Column::UserId.eq(user.id))
            .filter(two_factor::Column::ConfirmedAt.is_null())
            .filter(two_factor::Column::SecretEnc.eq(row.secret_enc.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if confirmed != 1 {
            return Err(Error::Conflict {
                field: None,
                message: "the setup changed meanwhile; start again".into(),
            });
        }
        let codes = replace_recovery_codes(self.fv, &txn, user.id).await?;
        audit::record(&txn, ctx, entry("enable_2fa", user.id)).await?;
        txn.commit().await?;
        Ok(codes)
    }

    /// Checks a proof for `user_id` at sign-in or for a sensitive change: takes an
    /// attempt slot, then accepts a fresh code (recording its step) or an unspent
    /// recovery code (spending it). `Ok(false)` for a wrong, replayed or spent one.
    pub(crate) async fn verify(&self, user_id: i64, proof: Proof<'_>) -> Result<bool> {
        let row = two_factor::Entity::find_by_id(user_id)
            .one(self.fv.db())
            .await?;
        let Some(row) = row.filter(|r| r.confirmed_at.is_some()) else {
            return Ok(false);
        };
        self.take_attempt(user_id).await?;
        let accepted = match proof {
            Proof::Code(code) => match self.matching_step(&row, code)? {
                Some(step) => self.accept_step(user_id, step).await?,
                None => false,
            },
            Proof::RecoveryCode(code) => self.spend_recovery_code(user_id, code).await?,
        };
        if accepted {
            two_factor::Entity::update_many()
                .col_expr(two_factor::Column::Failures, 0.into())
                .filter(two_factor::Column::UserId.eq(user_id))
                .exec(self.fv.db())
                .await?;
        }
        Ok(accepted)
    }

    async fn require_proof(&self, user_id: i64, proof: Proof<'_>) -> Result<()> {
        if !self.is_enabled(user_id).await? {
            return Err(Error::Conflict {
                field: None,
                message: "two-factor sign-in is not on".into(),
            });
        }
        if self.verify(user_id, proof).await? {
            Ok(())
        } else {
            Err(wrong_code(match proof {
                Proof::Code(_) => "code",
                Proof::RecoveryCode(_) => "recovery_code",
            }))
        }
    }

    async fn remove(&self, ctx: &AuditContext, user_id: i64, action: &str) -> Result<()> {
        let txn = self.fv.begin_write().await?;
        let removed = two_factor::Entity::delete_by_id(user_id)
            .exec(&txn)
            .await?
            .rows_affected;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        if removed > 0 {
            audit::record(&txn, ctx, entry(action, user_id)).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Takes one attempt slot of `user_id`'s window, or refuses with the wait.
    async fn take_attempt(&self, user_id: i64) -> Result<()> {
        let db = self.fv.db();
        let now = Utc::now();
        let cutoff = now - chrono::Duration::from_std(ATTEMPT_WINDOW).unwrap_or_default();
        let sql = "UPDATE two_factors SET \
            failures = CASE WHEN failures_since IS NULL OR failures_since < $1 THEN 1 ELSE failures + 1 END, \
            failures_since = CASE WHEN failures_since IS NULL OR failures_since < $1 THEN $2 ELSE failures_since END \
            WHERE user_id = $3 AND (failures_since IS NULL OR failures_since < $1 OR failures < $4)";
        let taken = db
            .execute_raw(statement(
                db.get_database_backend(),
                sql,
                vec![
                    cutoff.into(),
                    now.into(),
                    user_id.into(),
                    MAX_ATTEMPTS.into(),
                ],
            ))
            .await?
            .rows_affected();
        if taken == 1 {
            return Ok(());
        }
        let since = two_factor::Entity::find_by_id(user_id)
            .one(db)
            .await?
            .and_then(|r| r.failures_since)
            .unwrap_or(now);
        let retry_after = Ord::max((since - cutoff).num_seconds(), 1);
        Err(Error::RateLimited {
            message: "too many two-factor codes tried for this account; try again later".into(),
            retry_after: u64::try_from(retry_after).unwrap_or(1),
        })
    }

    /// Records `step` as used if it is later than the last one; whether it was.
    async fn accept_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let res = two_factor::Entity::update_many()
            .col_expr(two_factor::Column::LastUsedStep, step.into())
            .col_expr(two_factor::Column::UpdatedAt, Utc::now().into())
            .filter(two_factor::Column::UserId.eq(user_id))
            .filter(
                two_factor::Column::LastUsedStep
                    .is_null()
                    .or(two_factor::Column::LastUsedStep.lt(step)),
            )
            .exec(self.fv.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn spend_recovery_code(&self, user_id: i64, code: &str) -> Result<bool> {
        let Some(normal) = normalize_recovery_code(code) else {
            return Ok(false);
        };
        let res = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Utc::now().into())
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::CodeHash.eq(recovery_hash(self.fv, &normal)))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(self.fv.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// The step `code` matches for `row`'s secret (now, or one step either side).
    fn matching_step(&self, row: &two_factor::Model, code: &str) -> Result<Option<i64>> {
        if code.len() > MAX_INPUT {
            return Ok(None);
        }
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let secret = self.open(row.user_id, &row.secret_enc)?;
        let totp = self.totp(&secret, None)?;
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
        Ok(totp
            .check(&code, now)
            .and_then(|step| i64::try_from(step).ok()))
    }

    fn totp(&self, secret: &[u8], account: Option<&str>) -> Result<Totp> {
        let builder = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP)
            .with_secret(secret.to_vec());
        let builder = match account {
            Some(account) => builder
                .with_account_name(account.replace(':', "_"))
                .with_issuer(Some(self.fv.settings().totp_issuer.clone())),
            None => builder.with_account_name("-"),
        };
        builder
            .build()
            .map_err(|e| Error::Internal(format!("TOTP: {e}")))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(
            None,
            self.fv.settings().secret_key.expose().as_bytes(),
        );
        let mut key = [0u8; 32];
        hk.expand(KDF_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        XChaCha20Poly1305::new(&key.into())
    }

    fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = user_id.to_be_bytes();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal("cannot encrypt a TOTP secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    fn open(&self, user_id: i64, sealed: &str) -> Result<Vec<u8>> {
        let unreadable = || {
            Error::Internal(format!(
                "the TOTP secret of user {user_id} cannot be decrypted (was SECRET_KEY changed?); reset it with `fastvue users reset-2fa`"
            ))
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| unreadable())?;
        let Some((nonce, ciphertext)) = bytes.split_at_checked(24) else {
            return Err(unreadable());
        };
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| unreadable())?;
        let aad = user_id.to_be_bytes();
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| unreadable())
    }
}

/// Deletes `user_id`'s recovery codes and stores [`RECOVERY_CODES`] new ones; answers them.
async fn replace_recovery_codes<C: ConnectionTrait>(
    fv: &Fastvue,
    txn: &C,
    user_id: i64,
) -> Result<Vec<String>> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    let now = Utc::now();
    let codes = fresh_recovery_codes();
    let rows = codes.iter().map(|shown| recovery_code::ActiveModel {
        user_id: Set(user_id),
        code_hash: Set(recovery_hash(fv, &shown.replace('-', ""))),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    });
    recovery_code::Entity::insert_many(rows).exec(txn).await?;
    Ok(codes)
}

/// [`RECOVERY_CODES`] distinct codes shown as `xxxx-xxxx-xxxx`.
fn fresh_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    let mut codes: Vec<String> = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let raw: String = (0..RECOVERY_LEN)
            .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())]))
            .collect();
        let shown = format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]);
        if !codes.contains(&shown) {
            codes.push(shown);
        }
    }
    codes
}

/// The 12 characters of a recovery code as typed (any case, dashes and spaces ignored).
fn normalize_recovery_code(code: &str) -> Option<String> {
    if code.len() > MAX_INPUT {
        return None;
    }
    let normal: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (normal.len() == RECOVERY_LEN && normal.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(normal)
}

fn recovery_hash(fv: &Fastvue, normal: &str) -> String {
    keyed::stored_hash(fv, "recovery", normal)
}

fn wrong_code(field: &str) -> Error {
    Error::invalid(field, "wrong, expired or already used code")
}

fn entry(action: &str, user_id: i64) -> Entry<'_> {
    Entry {
        action,
        entity_type: "user",
        entity_id: Some(user_id),
        company_id: None,
        old_values: None,
        new_values: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_read_as_typed_and_nothing_else() {
        assert_eq!(
            normalize_recovery_code("ABCD-efgh-jkmn").as_deref(),
            Some("abcdefghjkmn")
        );
        assert_eq!(
            normalize_recovery_code(" abcd efgh jkmn ").as_deref(),
            Some("abcdefghjkmn")
        );
        assert_eq!(normalize_recovery_code("abcd-efgh-jkm"), None);
        assert_eq!(normalize_recovery_code("abcd-efgh-jkm0"), None);
        assert_eq!(normalize_recovery_code(&"a".repeat(10_000)), None);
    }
}
