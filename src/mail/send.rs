//! Sending from a linked account: a message built with lettre (plain text, optional HTML,
//! attachments; a reply's `In-Reply-To` and `References` per RFC 5322 §3.6.4; a forward carries
//! the original as a `message/rfc822` attachment), submitted through the account's own SMTP
//! server (RFC 6409) with its stored password, then a copy appended to its Sent folder (unless
//! the provider files one itself: Gmail, Microsoft 365 — a second copy would be a duplicate),
//! and the replied message marked `\Answered`.

use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::connect::{Endpoint, Security};
use super::index::{Address, SyncReport};
use super::{MailError, MailResult, MailService, sync};
use crate::domain::UserId;
use crate::store::mail::{MailAccountRow, MailFolderRow};
use crate::store::mail_index::{MailMessageRow, MessageQuery};

/// At most this many recipients (To, Cc and Bcc together) per message.
pub const MAX_RECIPIENTS: usize = 100;

/// A file to attach, its bytes in base64.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingFile {
    pub name: String,
    #[serde(default = "octet_stream")]
    pub content_type: String,
    /// The bytes, base64 (standard alphabet).
    pub data: String,
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

/// A message to send.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outgoing {
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    /// Sent to, never shown to the others.
    #[serde(default)]
    pub bcc: Vec<Address>,
    pub subject: String,
    /// The text (what every mail program can show).
    pub text: String,
    /// An HTML alternative; sanitised before it is sent.
    #[serde(default)]
    pub html: Option<String>,
    /// The message (index id) this replies to: threading headers, and `\Answered` on it.
    #[serde(default)]
    pub reply_to: Option<i64>,
    /// The message (index id) this forwards: attached whole.
    #[serde(default)]
    pub forward: Option<i64>,
    #[serde(default)]
    pub attachments: Vec<OutgoingFile>,
    /// A draft (index id) this message replaces: saving a draft again deletes the old one, and
    /// sending deletes the draft it was written from.
    #[serde(default)]
    pub replaces: Option<i64>,
}

/// A saved draft.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Draft {
    /// The draft in the index (pass as `replaces` to save it again or to send it).
    pub id: Option<i64>,
    pub message_id: String,
}

/// What was sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sent {
    /// The new message's Message-ID, without brackets.
    pub message_id: String,
    /// A copy was put in the account's Sent folder.
    pub saved_to_sent: bool,
}

fn mailbox(a: &Address) -> MailResult<Mailbox> {
    let email =
        a.email.trim().parse().map_err(|_| MailError::Invalid(format!("not an e-mail address: {}", a.email)))?;
    let name = a.name.trim();
    Ok(Mailbox::new((!name.is_empty()).then(|| name.to_string()), email))
}

/// Providers that file what their SMTP sends into Sent themselves (a copy by APPEND would be a
/// duplicate): Gmail and Microsoft 365 / Outlook.com.
fn files_sent_itself(smtp_host: &str) -> bool {
    let h = smtp_host.to_ascii_lowercase();
    ["gmail.com", "googlemail.com", "office365.com", "outlook.com"]
        .iter()
        .any(|d| h == *d || h.ends_with(&format!(".{d}")))
}

/// The message's body: the text alone; text and HTML as `multipart/alternative` (RFC 2046
/// §5.1.4, the plain part first so the richest comes last); and with attachments, that inside a
/// `multipart/mixed` followed by the files.
fn assemble(
    builder: lettre::message::MessageBuilder,
    text: &str,
    html: Option<String>,
    attachments: Vec<SinglePart>,
) -> Result<lettre::Message, lettre::error::Error> {
    let text = SinglePart::plain(text.to_string());
    let mut mixed = match html {
        None if attachments.is_empty() => return builder.singlepart(text),
        None => MultiPart::mixed().singlepart(text),
        Some(html) => {
            let alternative = MultiPart::alternative().singlepart(text).singlepart(SinglePart::html(html));
            if attachments.is_empty() {
                return builder.multipart(alternative);
            }
            MultiPart::mixed().multipart(alternative)
        }
    };
    for part in attachments {
        mixed = mixed.singlepart(part);
    }
    builder.multipart(mixed)
}

impl MailService {
    /// The largest message that may be sent (`mail.max_message_size`), text and attachments
    /// together: the web client refuses larger attachments before uploading them.
    pub fn max_message_size(&self) -> u64 {
        self.config.max_message_size
    }

    /// Builds the message `out` describes, from `account`: the message, its Message-ID, and the
    /// replied message. A draft may have no recipient yet.
    async fn build(
        &self,
        user: UserId,
        account: &MailAccountRow,
        out: &Outgoing,
        draft: bool,
    ) -> MailResult<(lettre::Message, String, Option<(MailMessageRow, MailFolderRow)>)> {
        let recipients = out.to.len() + out.cc.len() + out.bcc.len();
        if recipients == 0 && !draft {
            return Err(MailError::Invalid("to: at least one recipient".into()));
        }
        if recipients > MAX_RECIPIENTS {
            return Err(MailError::Invalid(format!("at most {MAX_RECIPIENTS} recipients")));
        }
        if out.subject.chars().count() > 998 || out.subject.chars().any(char::is_control) {
            return Err(MailError::Invalid("subject: one line, up to 998 characters".into()));
        }
        let from = mailbox(&Address { name: account.display_name.clone(), email: account.email.clone() })?;
        let domain =
            account.email.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_else(|| "madang.invalid".into());
        let mut random = [0u8; 16];
        getrandom::getrandom(&mut random)
            .map_err(|e| MailError::Store(crate::store::StoreError::Internal(e.to_string())))?;
        let message_id = format!("{}@{domain}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(out.subject.trim())
            .message_id(Some(format!("<{message_id}>")))
            .date_now()
            .user_agent("Madang".into());
        if recipients == 0 {
            // A draft without recipients yet: lettre wants an envelope, which is never used.
            let own = from.email.clone();
            builder = builder.envelope(
                lettre::address::Envelope::new(Some(own.clone()), vec![own])
                    .map_err(|e| MailError::Invalid(e.to_string()))?,
            );
        }
        for a in &out.to {
            builder = builder.to(mailbox(a)?);
        }
        for a in &out.cc {
            builder = builder.cc(mailbox(a)?);
        }
        for a in &out.bcc {
            builder = builder.bcc(mailbox(a)?);
        }
        let draft = match out.replaces {
            Some(d) => self.live_draft(user, account.id, d).await?,
            None => None,
        };
        let parent = match (out.reply_to, &draft) {
            (Some(pid), _) => Some(self.store.mail_message(user, pid).await?),
            // A reply's draft opened again: the message it answers, found in its conversation.
            (None, Some(d)) => self.answered_by(user, d).await?,
            (None, None) => None,
        };
        if parent.is_none()
            && let Some(d) = draft.as_ref().filter(|d| d.in_reply_to.is_some())
        {
            // The message it answered is gone from the index (deleted, or never synced): the
            // draft's own threading headers still put the reply in its conversation.
            if let Some(irt) = &d.in_reply_to {
                builder = builder.in_reply_to(format!("<{irt}>"));
            }
            let refs: Vec<String> = d.refs.split_whitespace().map(|r| format!("<{r}>")).collect();
            if !refs.is_empty() {
                builder = builder.references(refs.join(" "));
            }
        }
        if let Some((p, _)) = &parent {
            let refs: Vec<String> = p.refs.split_whitespace().map(str::to_string).collect();
            if let Some(pid) = &p.message_id {
                builder = builder.in_reply_to(format!("<{pid}>"));
            }
            let chain = madang_mail::compose::references(&refs, p.in_reply_to.as_deref(), p.message_id.as_deref());
            if !chain.is_empty() {
                builder = builder.references(chain.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" "));
            }
        }
        let mut total = out.text.len() + out.html.as_ref().map_or(0, String::len);
        let mut parts: Vec<SinglePart> = Vec::new();
        for f in &out.attachments {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.data.as_bytes())
                .map_err(|_| MailError::Invalid(format!("attachments: {} is not base64", f.name)))?;
            total += bytes.len();
            let ctype = ContentType::parse(&f.content_type)
                .map_err(|_| MailError::Invalid(format!("attachments: {} has no valid type", f.name)))?;
            let name = madang_mail::summary::clean_line(&f.name).replace(['/', '\\'], "_");
            parts.push(Attachment::new(if name.is_empty() { "attachment".into() } else { name }).body(bytes, ctype));
        }
        if let Some(fid) = out.forward {
            let (row, folder) = self.store.mail_message(user, fid).await?;
            let raw = self.raw(user, &row, &folder).await?;
            total += raw.len();
            let name = format!("{}.eml", madang_mail::summary::clean_line(&row.subject).replace(['/', '\\'], "_"));
            let ctype = ContentType::parse("message/rfc822").map_err(|e| MailError::Invalid(e.to_string()))?;
            parts.push(Attachment::new(name).body(raw.to_vec(), ctype));
        }
        if total as u64 > self.config.max_message_size {
            return Err(MailError::TooLarge(self.config.max_message_size));
        }
        let html = out.html.as_deref().map(madang_mail::compose::clean_html);
        let message = assemble(builder, &out.text, html, parts).map_err(|e| MailError::Invalid(e.to_string()))?;
        Ok((message, message_id, parent))
    }

    /// Sends `out` from the user's account `id`.
    pub async fn send(&self, user: UserId, id: i64, out: &Outgoing) -> MailResult<Sent> {
        let account = self.store.mail_account(user, id).await?;
        let (message, message_id, parent) = self.build(user, &account, out, false).await?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let credential = self.credential_of(user, &account, false).await?;
        let smtp = Endpoint {
            host: account.smtp_host.clone(),
            port: u16::try_from(account.smtp_port).unwrap_or(0),
            security: Security::parse(&account.smtp_security).unwrap_or(Security::Tls),
        };
        self.connector
            .send_smtp(&smtp, &account.username, &credential, &envelope, &bytes)
            .await
            .map_err(MailError::Unreachable)?;
        metrics::counter!("madang_mail_sent_total").increment(1);
        // Sent, whatever follows: the copy and the flag are best effort, said in the answer.
        let saved_to_sent = if files_sent_itself(&account.smtp_host) {
            false
        } else {
            self.file_copy(user, id, "sent", "(\\Seen)", &bytes, None).await.map(|f| f.is_some()).unwrap_or_else(|e| {
                tracing::warn!(account = id, error = %e, "sent, but the copy in Sent failed");
                false
            })
        };
        if let Some(draft) = out.replaces
            && let Err(e) = self.discard_draft(user, id, draft).await
        {
            tracing::warn!(account = id, error = %e, "sent, but deleting its draft failed");
        }
        if let Some((p, _)) = parent {
            let change = super::index::FlagChange { seen: None, flagged: None, answered: Some(true) };
            if let Err(e) = self.set_flags(user, p.id, &change).await {
                tracing::warn!(account = id, error = %e, "sent, but marking the original answered failed");
            }
        }
        Ok(Sent { message_id, saved_to_sent })
    }

    /// Saves `out` as a draft of account `id` in its Drafts folder (`\Draft \Seen`, RFC 9051
    /// §2.3.2), replacing the draft `out.replaces` names, and brings Drafts' index up to date.
    pub async fn save_draft(&self, user: UserId, id: i64, out: &Outgoing) -> MailResult<Draft> {
        let account = self.store.mail_account(user, id).await?;
        let old = match out.replaces {
            Some(d) => self.live_draft(user, id, d).await?,
            None => None,
        };
        let (message, message_id, _) = self.build(user, &account, out, true).await?;
        let bytes = message.formatted();
        let folder = self
            .file_copy(user, id, "drafts", "(\\Draft \\Seen)", &bytes, old.as_ref().map(|r| r.uid))
            .await?
            .ok_or_else(|| MailError::Invalid("this account has no Drafts folder (synchronise it first)".into()))?;
        let found = self
            .store
            .mail_messages(user, &MessageQuery { folder: Some(folder), limit: 200, ..Default::default() })
            .await?
            .into_iter()
            .find(|m| m.message_id.as_deref() == Some(message_id.as_str()))
            .map(|m| m.id);
        Ok(Draft { id: found, message_id })
    }

    /// The message a reply's draft answers (its In-Reply-To, in the same conversation), when the
    /// index has it.
    async fn answered_by(
        &self,
        user: UserId,
        draft: &MailMessageRow,
    ) -> MailResult<Option<(MailMessageRow, MailFolderRow)>> {
        let Some(irt) = draft.in_reply_to.as_deref() else { return Ok(None) };
        let thread = match self.store.mail_thread(user, draft.account_id, draft.thread_id).await {
            Ok(t) => t,
            Err(crate::store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match thread.into_iter().find(|m| m.id != draft.id && m.message_id.as_deref() == Some(irt)) {
            Some(m) => Ok(Some(self.store.mail_message(user, m.id).await?)),
            None => Ok(None),
        }
    }

    /// The draft `draft` of account `id`, or `None` when it is gone (deleted or sent from another
    /// mail program meanwhile): the message is then saved or sent all the same, replacing
    /// nothing. A message that is not a draft of this account is refused.
    async fn live_draft(&self, user: UserId, id: i64, draft: i64) -> MailResult<Option<MailMessageRow>> {
        match self.own_draft(user, id, draft).await {
            Ok(row) => Ok(Some(row)),
            Err(MailError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The draft `draft` if it is in account `id`'s Drafts folder.
    async fn own_draft(&self, user: UserId, id: i64, draft: i64) -> MailResult<MailMessageRow> {
        let (row, folder) = self.store.mail_message(user, draft).await?;
        if row.account_id != id || folder.role.as_deref() != Some("drafts") {
            return Err(MailError::Invalid("replaces: a draft of this account".into()));
        }
        Ok(row)
    }

    async fn discard_draft(&self, user: UserId, id: i64, draft: i64) -> MailResult<()> {
        let row = self.own_draft(user, id, draft).await?;
        let (_, folder) = self.store.mail_message(user, row.id).await?;
        self.relocate(user, &row, folder, None).await
    }

    /// Appends `bytes` with `flags` to the account's folder with `role`, first expunging
    /// `replace_uid` there, and brings that folder's index up to date. The folder's id, or `None`
    /// when the account has no such folder in the index.
    async fn file_copy(
        &self,
        user: UserId,
        id: i64,
        role: &str,
        flags: &str,
        bytes: &[u8],
        replace_uid: Option<i64>,
    ) -> MailResult<Option<i64>> {
        let Some(folder) = self.store.mail_folder_by_role(user, id, role).await? else { return Ok(None) };
        let folder_id = folder.id;
        let account = self.store.mail_account(user, id).await?;
        let lock = self.account_lock(id);
        let _guard = lock.lock().await;
        let (mut session, resync, capabilities) = self.open_sync_session(user, &account).await?;
        let uidplus = capabilities.iter().any(|c| c == "UIDPLUS");
        let result = async {
            if let Some(uid) = replace_uid.and_then(|u| u32::try_from(u).ok()) {
                self.connector
                    .step(super::Step::Protocol, session.select(&folder.name))
                    .await
                    .map_err(MailError::Unreachable)?;
                sync::expunge(&self.connector, &mut session, uid, uidplus).await.map_err(MailError::Unreachable)?;
            }
            self.connector
                .step(super::Step::Protocol, session.append(&folder.name, Some(flags), None, bytes))
                .await
                .map_err(MailError::Unreachable)?;
            let mut report = SyncReport::default();
            self.sync_folder(&mut session, user, folder, resync, &mut report).await
        }
        .await;
        self.logout(session).await;
        result.map(|()| Some(folder_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_that_file_sent_mail_themselves() {
        assert!(files_sent_itself("smtp.gmail.com"));
        assert!(files_sent_itself("smtp.office365.com"));
        assert!(!files_sent_itself("smtp.naver.com"));
        assert!(!files_sent_itself("notgmail.com.example"));
    }

    fn built(html: Option<&str>, attachments: usize) -> String {
        let builder = lettre::Message::builder()
            .from("kim@example.test".parse().unwrap())
            .to("lee@example.test".parse().unwrap())
            .subject("Plan");
        let files = (0..attachments)
            .map(|i| {
                Attachment::new(format!("f{i}.txt")).body(b"x".to_vec(), ContentType::parse("text/plain").unwrap())
            })
            .collect();
        String::from_utf8(assemble(builder, "- one\n- two", html.map(str::to_string), files).unwrap().formatted())
            .unwrap()
    }

    /// A rich-text message is multipart/alternative at the top (mail programs pick the HTML),
    /// inside multipart/mixed only when files go with it; plain text stays one part.
    #[test]
    fn text_and_html_are_alternatives() {
        let rich = built(Some("<ul><li>one</li><li>two</li></ul>"), 0);
        let top = rich.lines().find(|l| l.starts_with("Content-Type:")).unwrap();
        assert!(top.contains("multipart/alternative"), "{rich}");
        let (text, html) = (rich.find("text/plain").unwrap(), rich.find("text/html").unwrap());
        assert!(text < html, "the plain part comes first: {rich}");
        assert!(rich.contains("<li>one</li>") && rich.contains("- one"));

        let with_file = built(Some("<b>hi</b>"), 1);
        let top = with_file.lines().find(|l| l.starts_with("Content-Type:")).unwrap();
        assert!(top.contains("multipart/mixed") && with_file.contains("multipart/alternative"), "{with_file}");
        assert!(with_file.contains("f0.txt"));

        let plain = built(None, 0);
        assert!(!plain.contains("multipart/"), "{plain}");
        assert!(built(None, 1).contains("multipart/mixed"));
    }
}
