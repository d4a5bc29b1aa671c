//! Searching a folder's message text on the mail server (`UID SEARCH CHARSET UTF-8 TEXT …`,
//! RFC 9051 §6.4.4), for what the index cannot answer: the index keeps headers and the text's
//! first 2 KiB, never whole bodies. The server says which UIDs match; the answer is the index's
//! rows for them, so the list looks the same as any other.
//!
//! Bounded: only the newest [`MAX_HITS`] matching UIDs are looked up, and paging with `before`
//! walks within those. A message the server finds but the index does not have yet (delivered
//! since the last sync) is left out until the sync brings it.

use super::index::MessagePage;
use super::{MailError, MailResult, MailService, command, sync};
use crate::domain::UserId;
use crate::store::mail_index::MessageQuery;

/// The most matches looked up in the index (the newest UIDs first).
pub const MAX_HITS: usize = 1000;

impl MailService {
    /// A page of the folder's messages whose header or body holds every word of `query.text`,
    /// newest first, with the query's other filters and paging.
    pub async fn search_on_server(
        &self,
        user: UserId,
        mut query: MessageQuery,
        before: Option<&str>,
    ) -> MailResult<MessagePage> {
        let folder_id =
            query.folder.ok_or_else(|| MailError::Invalid("body: searching message text needs a folder".into()))?;
        if query.text.is_empty() {
            return Err(MailError::Invalid("q: the words to look for in the message text".into()));
        }
        let folder = self.store.mail_folder(user, folder_id).await.map_err(|e| match MailError::from(e) {
            MailError::NotFound => MailError::FolderNotFound,
            other => other,
        })?;
        if !folder.selectable {
            return Err(MailError::Invalid("folder: this folder only holds other folders".into()));
        }
        let account = self.store.mail_account(user, folder.account_id).await?;
        let (mut session, _) = self.login(user, &account).await?;
        let answer = async {
            sync::open(&self.connector, &mut session, &folder.name, false).await?;
            command::search_text(&self.connector, &mut session, &query.text).await
        }
        .await;
        self.logout(session).await;
        let answer = answer.map_err(MailError::Unreachable)?;
        if !answer.ok && answer.bad_charset {
            return Err(MailError::Invalid(
                "q: this mail server can only search for words in plain ASCII (it does not know UTF-8)".into(),
            ));
        }
        if !answer.ok {
            return Err(MailError::Refused(answer.text));
        }
        let mut uids = answer.found;
        uids.sort_unstable_by(|a, b| b.cmp(a));
        uids.dedup();
        uids.truncate(MAX_HITS);
        query.uids = Some(uids.into_iter().map(i64::from).collect());
        // The server matched the words already; the index must not ask them of its columns.
        query.text.clear();
        self.messages(user, query, before).await
    }
}
