//! Mail settings: the SMTP relay (or the outbox directory) and the public URL of links.
use std::fmt;
use std::time::Duration;

use super::loader::{Loader, Raw, check_http_url};
use super::{Environment, Secret};

/// How `SMTP_HOST` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS on a plain connection (port 587; the default).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS: only for a relay on this machine (refused in production for other hosts).
    None,
}

/// An SMTP relay.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `SMTP_HOST`.
    pub host: String,
    /// `SMTP_PORT` (default 587, or 465 with `SMTP_TLS=tls`).
    pub port: u16,
    /// `SMTP_USER` (no authentication when unset).
    pub user: Option<String>,
    /// `SMTP_PASSWORD`.
    pub password: Option<Secret>,
    /// `SMTP_TLS`: `starttls` (default), `tls` or `none`.
    pub tls: SmtpTls,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Outgoing mail.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The relay; `None` (no `SMTP_HOST`, the embedded default): mail is written to
    /// [`MailSettings::outbox_dir`] and announced in the log, like Django's console backend.
    pub smtp: Option<SmtpSettings>,
    /// `SMTP_FROM`: the sender (default `fastvue-rs <no-reply@localhost>`).
    pub from: String,
    /// `MAIL_OUTBOX_DIR`: where mail goes without `SMTP_HOST` (default `outbox`).
    pub outbox_dir: std::path::PathBuf,
    /// `PUBLIC_URL`: the base of the links in mails (the frontend's pages
    /// `/reset-password`, `/verify-email` and `/accept-invitation`); default
    /// `FRONTEND_URL`, else `http://HOST:PORT`.
    pub public_url: String,
    /// `MAIL_RETRY_SECONDS`: first wait before a failed send is retried (doubling, 4
    /// retries; default 5).
    pub retry: Duration,
}

/// The `SMTP_*`, `MAIL_*` and `PUBLIC_URL` variables.
pub(super) fn load_mail<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    environment: Environment,
    frontend_url: Option<&str>,
) -> MailSettings {
    let tls = match l.text("SMTP_TLS").as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            l.problem(
                "SMTP_TLS",
                format!("expected starttls, tls or none, got {other:?}"),
            );
            SmtpTls::StartTls
        }
    };
    let default_port = if tls == SmtpTls::Implicit { 465 } else { 587 };
    let port = l.integer("SMTP_PORT", default_port, 1, u16::MAX);
    let user = l.text("SMTP_USER");
    let password = l.secret("SMTP_PASSWORD");
    let smtp = l.text("SMTP_HOST").map(|host| {
        let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if tls == SmtpTls::None && environment.is_production() && !local {
            l.problem(
                "SMTP_TLS",
                "none is refused in production for a relay on another host: use starttls or tls",
            );
        }
        SmtpSettings {
            host,
            port,
            user: user.clone(),
            password: password.clone(),
            tls,
        }
    });
    if smtp.is_none() {
        if user.is_some() {
            l.problem("SMTP_USER", "is set without SMTP_HOST");
        }
        if password.is_some() {
            l.problem("SMTP_PASSWORD", "is set without SMTP_HOST");
        }
    }
    let from = l.text_or("SMTP_FROM", "fastvue-rs <no-reply@localhost>");
    if from.parse::<lettre::message::Mailbox>().is_err() {
        l.problem(
            "SMTP_FROM",
            format!("expected an address such as \"Name <x@example.com>\", got {from:?}"),
        );
    }
    let outbox_dir = std::path::PathBuf::from(l.text_or("MAIL_OUTBOX_DIR", "outbox"));
    let public_url = match l.text("PUBLIC_URL") {
        Some(url) => {
            if let Err(reason) = check_http_url(&url, false) {
                l.problem(
                    "PUBLIC_URL",
                    format!("expected an http(s) URL, got {url:?} ({reason})"),
                );
            }
            url
        }
        // FRONTEND_URL is checked where it is read.
        None => frontend_url.map(str::to_owned).unwrap_or_default(),
    }
    .trim_end_matches('/')
    .to_owned();
    let retry = l.seconds("MAIL_RETRY_SECONDS", 5, 1);
    MailSettings {
        smtp,
        from,
        outbox_dir,
        public_url,
        retry,
    }
}
