//! [`Mailer`]: outgoing mail that never blocks a request.
//!
//! [`Mailer::send`] puts a message on a bounded queue ([`QUEUE`]) and returns at once;
//! when the queue is full it refuses with [`Error::Busy`]. One worker task per process
//! takes messages off the queue and delivers up to [`PARALLEL`] at a time:
//!
//! - with `SMTP_HOST`, over SMTP (`lettre`; STARTTLS, implicit TLS or, for a relay on
//!   this machine, plain), retrying a failed send 4 times after `MAIL_RETRY_SECONDS`,
//!   then twice, four and eight times that;
//! - without it (the embedded default), into `MAIL_OUTBOX_DIR` as one `.eml` file per
//!   message, announced in the log (recipient, subject and file; never the body, which
//!   may hold a reset link), like Django's console backend.
//!
//! Metrics: `fastvue_mail_sent_total`, `fastvue_mail_retries_total`,
//! `fastvue_mail_failed_total` (given up after the last retry) and
//! `fastvue_mail_refused_total` (queue full). Mail still queued when the process stops
//! is lost; password resets and verifications can be asked for again.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{Semaphore, mpsc};

use crate::config::{MailSettings, SmtpTls};
use crate::error::{Error, Result};

/// Messages waiting for delivery, at most.
pub const QUEUE: usize = 1_000;
/// Deliveries in flight, at most.
pub const PARALLEL: usize = 4;
/// Mail-preparing jobs (database work off the request path) running at once, at most.
pub const JOBS: usize = 64;
/// Retries of a failed SMTP send.
const RETRIES: u32 = 4;
/// Longest wait for one SMTP exchange.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// One plain-text message.
#[derive(Clone)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may hold a single-use link: never printed.
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Where messages go.
#[derive(Clone)]
enum Delivery {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Queue of outgoing mail (see the [module docs](self)).
#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Mail>,
    outbox: Option<PathBuf>,
    jobs: Arc<Semaphore>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Starts the delivery worker (needs a Tokio runtime).
    pub fn start(settings: &MailSettings) -> Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| Error::Internal(format!("SMTP_FROM: {e}")))?;
        let delivery = match &settings.smtp {
            Some(smtp) => {
                let builder = match smtp.tls {
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    }
                    SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        &smtp.host,
                    )),
                }
                .map_err(|e| Error::Internal(format!("SMTP_HOST: {e}")))?;
                let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
                if let (Some(user), Some(password)) = (&smtp.user, &smtp.password) {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Delivery::Smtp(builder.build())
            }
            None => Delivery::Outbox(settings.outbox_dir.clone()),
        };
        let outbox = match &delivery {
            Delivery::Outbox(dir) => Some(dir.clone()),
            Delivery::Smtp(_) => None,
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(worker(rx, delivery, from, settings.retry));
        Ok(Self {
            tx,
            outbox,
            jobs: Arc::new(Semaphore::new(JOBS)),
        })
    }

    /// Runs `job` (work that decides whether to mail, such as a password-reset request)
    /// in the background, so the request answers in the same time whatever the job finds;
    /// [`Error::Busy`] when [`JOBS`] already run.
    pub(crate) fn background<F>(&self, job: F) -> Result<()>
    where
        F: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let Ok(permit) = self.jobs.clone().try_acquire_owned() else {
            metrics::counter!("fastvue_mail_refused_total").increment(1);
            return Err(Error::Busy {
                message: "too many mail requests at once; try again later".into(),
                retry_after: 5,
            });
        };
        tokio::spawn(async move {
            if let Err(e) = job.await {
                tracing::warn!(error = %e, "a mail job failed");
            }
            drop(permit);
        });
        Ok(())
    }

    /// Queues `mail`; [`Error::Busy`] when [`QUEUE`] messages already wait.
    pub fn send(&self, mail: Mail) -> Result<()> {
        self.tx.try_send(mail).map_err(|_| {
            metrics::counter!("fastvue_mail_refused_total").increment(1);
            Error::Busy {
                message: "too much mail is waiting to be sent; try again later".into(),
                retry_after: 5,
            }
        })
    }
}

async fn worker(mut rx: mpsc::Receiver<Mail>, delivery: Delivery, from: Mailbox, retry: Duration) {
    let slots = Arc::new(Semaphore::new(PARALLEL));
    while let Some(mail) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let delivery = delivery.clone();
        let from = from.clone();
        tokio::spawn(async move {
            deliver(&delivery, &from, &mail, retry).await;
            drop(permit);
        });
    }
}

async fn deliver(delivery: &Delivery, from: &Mailbox, mail: &Mail, retry: Duration) {
    let message = match build(from, mail) {
        Ok(m) => m,
        Err(reason) => {
            metrics::counter!("fastvue_mail_failed_total").increment(1);
            tracing::error!(to = %mail.to, subject = %mail.subject, reason = %reason, "mail cannot be built");
            return;
        }
    };
    match delivery {
        Delivery::Outbox(dir) => match write_outbox(dir, &message).await {
            Ok(path) => {
                metrics::counter!("fastvue_mail_sent_total").increment(1);
                tracing::info!(to = %mail.to, subject = %mail.subject, file = %path.display(), "mail written to the outbox (no SMTP_HOST)");
            }
            Err(e) => {
                metrics::counter!("fastvue_mail_failed_total").increment(1);
                tracing::error!(to = %mail.to, dir = %dir.display(), error = %e, "mail cannot be written to the outbox");
            }
        },
        Delivery::Smtp(transport) => {
            let mut wait = retry;
            for attempt in 0..=RETRIES {
                match transport.send(message.clone()).await {
                    Ok(_) => {
                        metrics::counter!("fastvue_mail_sent_total").increment(1);
                        tracing::info!(to = %mail.to, subject = %mail.subject, attempt, "mail sent");
                        return;
                    }
                    Err(e) if attempt < RETRIES => {
                        metrics::counter!("fastvue_mail_retries_total").increment(1);
                        tracing::warn!(to = %mail.to, subject = %mail.subject, attempt, error = %e, retry_in_s = wait.as_secs(), "mail not sent; will retry");
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => {
                        metrics::counter!("fastvue_mail_failed_total").increment(1);
                        tracing::error!(to = %mail.to, subject = %mail.subject, error = %e, "mail not sent; giving up");
                    }
                }
            }
        }
    }
}

fn build(from: &Mailbox, mail: &Mail) -> std::result::Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

async fn write_outbox(dir: &std::path::Path, message: &Message) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        uuid::Uuid::new_v4().simple()
    );
    let path = dir.join(name);
    tokio::fs::write(&path, message.formatted()).await?;
    Ok(path)
}
