//! Outgoing mail (password-reset links, sign-up notices) over SMTP with
//! rustls — never OpenSSL — or into memory for tests. The subject and text
//! are written by the callers, with the product name of `[brand]`; the
//! sender is named after it when `smtp.from` has no name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("the mail server refused or failed: {0}")]
    Send(String),
}

/// A message as the in-memory mailer keeps it.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        // Boxed: the transport is large, and the mailer is cloned into tasks.
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    /// Keeps messages in a list (tests, and `madang` runs without SMTP that
    /// want to show what would have been sent).
    Memory(Arc<Mutex<Vec<SentMail>>>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Memory(_) => f.write_str("Mailer::Memory"),
        }
    }
}

impl Mailer {
    pub fn from_config(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let from: Mailbox = config.from.parse().map_err(|e| MailError::Address(format!("{}: {e}", config.from)))?;
        let builder = match config.security {
            // `relay` is implicit TLS; `starttls_relay` requires STARTTLS
            // (never falls back to clear text). Both verify the certificate
            // against the webpki roots with rustls.
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host),
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)),
        }
        .map_err(|e| MailError::Send(e.to_string()))?;
        let mut builder = builder.port(config.port).timeout(Some(Duration::from_secs(20)));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(user.clone(), config.password.clone().unwrap_or_default()));
        }
        Ok(Mailer::Smtp { transport: Box::new(builder.build()), from })
    }

    /// Names the sender `name` (the product name) when `smtp.from` gives an
    /// address alone, so mail shows `Acme Work <…>` rather than a bare address.
    pub fn with_sender_name(self, name: &str) -> Mailer {
        match self {
            Mailer::Smtp { transport, from } if from.name.is_none() => {
                Mailer::Smtp { transport, from: Mailbox::new(Some(name.to_string()), from.email) }
            }
            other => other,
        }
    }

    /// A mailer that keeps what it sends, and the list to read it from.
    pub fn memory() -> (Mailer, Arc<Mutex<Vec<SentMail>>>) {
        let outbox = Arc::new(Mutex::new(Vec::new()));
        (Mailer::Memory(outbox.clone()), outbox)
    }

    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        match self {
            Mailer::Memory(outbox) => {
                outbox.lock().unwrap_or_else(|e| e.into_inner()).push(SentMail {
                    to: to.to_string(),
                    subject: subject.to_string(),
                    body: body.to_string(),
                });
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e| MailError::Address(format!("{to}: {e}")))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(body.to_string())
                    .map_err(|e| MailError::Build(e.to_string()))?;
                transport.send(message).await.map_err(|e| MailError::Send(e.to_string()))?;
                Ok(())
            }
        }
    }
}
