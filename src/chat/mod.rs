//! Team chat's domain service: who may do what in which channel, the limits, and the rate
//! limit, over the chat store (`store::chat`, which numbers messages and writes the push events
//! in each change's transaction).
//!
//! Permission rules, in one place: a private channel or DM is visible to its members only, and
//! everything about one the user cannot see answers [`ChatError::NotFound`] exactly as a
//! missing channel does (so nothing, not even its name, leaks). Public channels can be read by
//! anyone signed in; writing (sending, reacting, pinning) needs membership. Channel admins and
//! instance administrators manage (rename, archive, add and remove members, delete others'
//! messages). An archived channel is read-only.
//!
//! Mentions: `@name` mentions that member, `@channel` (`@all`) every member, and `@here` the
//! members who are online (not away) when the message is sent or edited. Presence is in memory
//! only (`crate::push::presence`), so the service, not the store, turns `@here` into those
//! members' names before the write; the store records names and `@channel` alike, knowing
//! nothing of presence.
//!
//! The service takes the store, the push service (for presence), its settings and the clock,
//! never `AppState` (`../shared/LAYERS.md`). Webhooks and bots post through
//! [`ChatService::send`] with [`Author::Bot`].

mod limits;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::ChatConfig;
use crate::domain::{GroupName, Role, User, UserId, Username};
use crate::push::PushService;
pub use crate::store::chat::Author;
use crate::store::chat::{
    Channel, ChannelPatch, ChannelRole, FollowedThread, History, Member, Message, NewChannel, NewMessage, ReadState,
    Sent, ThreadPage, text,
};
use crate::store::{Store, StoreError};

pub use limits::{MAX_NAME_CHARS, MAX_TOPIC_CHARS, RateLimiter};

/// The most messages one history or thread page returns.
pub const MAX_PAGE: i64 = 200;

/// Why a chat operation was refused, in domain words (the API maps them to statuses).
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No such channel or message, or one the user may not see.
    #[error("no such channel or message")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the channel is archived and read-only")]
    Archived,
    #[error("{0}")]
    Invalid(String),
    #[error("the message is longer than {0} bytes")]
    TooLarge(usize),
    #[error("too many messages; retry later")]
    RateLimited(Duration),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ChatError::NotFound,
            StoreError::Conflict(m) if m == "archived" => ChatError::Archived,
            StoreError::Conflict(m) => ChatError::Conflict(m),
            StoreError::Invalid(m) => ChatError::Invalid(m),
            e => ChatError::Store(e),
        }
    }
}

pub type ChatResult<T> = Result<T, ChatError>;

/// What `POST /channels` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateChannel {
    pub name: String,
    pub kind: String,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub members: Vec<String>,
    pub group: Option<String>,
}

/// What `PATCH /channels/{id}` asks for; `group: Some(None)` stops following a group.
#[derive(Debug, Clone, Default)]
pub struct UpdateChannel {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: Option<bool>,
    pub group: Option<Option<String>>,
}

/// What a send asks for.
#[derive(Debug, Clone, Default)]
pub struct SendMessage {
    pub text: String,
    pub client_id: Option<String>,
    pub thread: Option<i64>,
    /// Uploaded files to attach (`POST /channels/{id}/files` first).
    pub files: Vec<i64>,
}

/// The chat service of one process; cheap to share (`Arc`).
pub struct ChatService {
    store: Store,
    /// Whom `@here` reaches: the members its presence registry has online.
    push: Arc<PushService>,
    config: ChatConfig,
    clock: Arc<dyn Clock>,
    limiter: RateLimiter,
}

fn is_admin(user: &User) -> bool {
    user.role == Role::Admin
}

impl ChatService {
    pub fn new(store: Store, push: Arc<PushService>, config: ChatConfig, clock: Arc<dyn Clock>) -> ChatService {
        let limiter = RateLimiter::new(config.messages_per_minute);
        ChatService { store, push, config, clock, limiter }
    }

    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// The channel if `user` may see it, else `NotFound`.
    pub async fn channel(&self, user: &User, id: i64) -> ChatResult<Channel> {
        match self.store.chat_channel(user.id, id).await? {
            Some(c) if c.visible() => Ok(c),
            _ => Err(ChatError::NotFound),
        }
    }

    /// The channel if `user` is a member, else `NotFound` (private) or `Forbidden` (public).
    async fn member_channel(&self, user: &User, id: i64) -> ChatResult<Channel> {
        let c = self.channel(user, id).await?;
        if c.role.is_none() {
            return Err(ChatError::Forbidden("join the channel first"));
        }
        Ok(c)
    }

    /// The channel if `user` may manage it (channel or instance admin).
    async fn managed_channel(&self, user: &User, id: i64) -> ChatResult<Channel> {
        let c = self.channel(user, id).await?;
        if c.role != Some(ChannelRole::Admin) && !is_admin(user) {
            return Err(ChatError::Forbidden("only channel admins and administrators may do this"));
        }
        Ok(c)
    }

    pub async fn channels(&self, user: &User) -> ChatResult<Vec<Channel>> {
        Ok(self.store.chat_channels(user.id).await?)
    }

    pub async fn browse(&self, user: &User, q: &str, after: Option<&str>, limit: i64) -> ChatResult<Vec<Channel>> {
        Ok(self.store.chat_browse(user.id, q.trim(), after, limit.clamp(1, MAX_PAGE)).await?)
    }

    async fn user_named(&self, name: &str) -> ChatResult<User> {
        let username = Username::parse(name).map_err(|_| ChatError::Invalid(format!("no such user: {name}")))?;
        match self.store.user_by_name(&username).await {
            Ok(u) => Ok(u),
            Err(StoreError::NotFound) => Err(ChatError::Invalid(format!("no such user: {name}"))),
            Err(e) => Err(e.into()),
        }
    }

    async fn group_id(&self, name: &str) -> ChatResult<i64> {
        let group = GroupName::parse(name).map_err(|_| ChatError::Invalid(format!("no such group: {name}")))?;
        match self.store.group(&group).await {
            Ok(g) => Ok(g.id),
            Err(StoreError::NotFound) => Err(ChatError::Invalid(format!("no such group: {name}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a public or private channel; the creator is its admin.
    pub async fn create_channel(&self, user: &User, req: CreateChannel) -> ChatResult<Channel> {
        if req.kind != "public" && req.kind != "private" {
            return Err(ChatError::Invalid("kind: `public` or `private` (direct messages: POST /dms)".into()));
        }
        let name = limits::channel_name(&req.name)?;
        let topic = limits::topic("topic", req.topic.as_deref().unwrap_or(""))?;
        let purpose = limits::topic("purpose", req.purpose.as_deref().unwrap_or(""))?;
        let mut members = vec![(user.id, ChannelRole::Admin, false)];
        for name in &req.members {
            members.push((self.user_named(name).await?.id, ChannelRole::Member, false));
        }
        let group_id = match &req.group {
            Some(g) => Some(self.group_id(g).await?),
            None => None,
        };
        let new = NewChannel {
            kind: req.kind,
            name: Some(name),
            topic,
            purpose,
            group_id,
            created_by: user.id,
            dm_key: None,
            members,
        };
        let now = self.clock.now();
        let id = self.store.create_chat_channel(&new, now).await?;
        if group_id.is_some() {
            self.store.sync_chat_group(id, now).await?;
        }
        self.channel(user, id).await
    }

    pub async fn update_channel(&self, user: &User, id: i64, req: UpdateChannel) -> ChatResult<Channel> {
        let c = self.managed_channel(user, id).await?;
        if c.is_dm() && (req.name.is_some() || req.group.is_some()) {
            return Err(ChatError::Invalid("direct messages have no name and follow no group".into()));
        }
        // An archived channel is read-only but for unarchiving it.
        if c.archived && req.archived != Some(false) {
            return Err(ChatError::Archived);
        }
        let group = match &req.group {
            Some(Some(g)) => Some(Some(self.group_id(g).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let patch = ChannelPatch {
            name: req.name.as_deref().map(limits::channel_name).transpose()?,
            topic: req.topic.as_deref().map(|t| limits::topic("topic", t)).transpose()?,
            purpose: req.purpose.as_deref().map(|t| limits::topic("purpose", t)).transpose()?,
            archived: req.archived,
            group,
        };
        let now = self.clock.now();
        self.store.update_chat_channel(id, &patch, now).await?;
        if matches!(group, Some(Some(_))) {
            self.store.sync_chat_group(id, now).await?;
        }
        self.channel(user, id).await
    }

    pub async fn members(&self, user: &User, id: i64) -> ChatResult<Vec<Member>> {
        self.channel(user, id).await?;
        Ok(self.store.chat_members(id).await?)
    }

    /// Joins a public channel (the user themself) or adds someone (a manager), or changes a
    /// member's role (a manager). True when something changed.
    pub async fn put_member(&self, user: &User, id: i64, name: &str, role: Option<ChannelRole>) -> ChatResult<bool> {
        let c = self.channel(user, id).await?;
        let manager = c.role == Some(ChannelRole::Admin) || is_admin(user);
        if c.archived {
            return Err(ChatError::Archived);
        }
        if c.is_dm() {
            return Err(ChatError::Invalid("the members of a direct message are fixed; start another".into()));
        }
        let target = if name.eq_ignore_ascii_case(user.username.as_str()) {
            user.clone()
        } else {
            self.user_named(name).await.map_err(|_| ChatError::NotFound)?
        };
        let myself = target.id == user.id;
        if !manager && (!myself || c.kind != "public" || role == Some(ChannelRole::Admin)) {
            return Err(ChatError::Forbidden("only channel admins and administrators may add members or set roles"));
        }
        Ok(self.store.add_chat_member(id, target.id, role, false, self.clock.now()).await?)
    }

    /// Leaves (the user themself) or removes someone (a manager).
    pub async fn remove_member(&self, user: &User, id: i64, name: &str) -> ChatResult<()> {
        let c = self.channel(user, id).await?;
        let target = if name.eq_ignore_ascii_case(user.username.as_str()) {
            user.clone()
        } else {
            self.user_named(name).await.map_err(|_| ChatError::NotFound)?
        };
        let myself = target.id == user.id;
        let manager = c.role == Some(ChannelRole::Admin) || is_admin(user);
        if !myself && !manager {
            return Err(ChatError::Forbidden("only channel admins and administrators may remove members"));
        }
        let op = if myself { "left" } else { "removed" };
        if !self.store.remove_chat_member(id, target.id, op, self.clock.now()).await? {
            return Err(ChatError::NotFound);
        }
        Ok(())
    }

    /// The DM between the user and `names` (1 to `max_dm_members - 1` others), found or created.
    pub async fn dm(&self, user: &User, names: &[String]) -> ChatResult<Channel> {
        let mut ids = vec![user.id.0];
        for name in names {
            ids.push(self.user_named(name).await?.id.0);
        }
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 || ids.len() > self.config.max_dm_members {
            return Err(ChatError::Invalid(format!(
                "users: 1 to {} other people",
                self.config.max_dm_members.saturating_sub(1)
            )));
        }
        let key = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        if let Some(id) = self.store.chat_dm_by_key(&key).await? {
            return self.channel(user, id).await;
        }
        let new = NewChannel {
            kind: "dm".into(),
            name: None,
            topic: String::new(),
            purpose: String::new(),
            group_id: None,
            created_by: user.id,
            dm_key: Some(key.clone()),
            members: ids.iter().map(|&u| (UserId(u), ChannelRole::Member, false)).collect(),
        };
        let id = match self.store.create_chat_channel(&new, self.clock.now()).await {
            Ok(id) => id,
            // Created by another request meanwhile: that one is the DM.
            Err(StoreError::Conflict(_)) => self.store.chat_dm_by_key(&key).await?.ok_or(ChatError::NotFound)?,
            Err(e) => return Err(e.into()),
        };
        self.channel(user, id).await
    }

    pub async fn history(
        &self,
        user: &User,
        id: i64,
        before: Option<i64>,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> ChatResult<History> {
        self.channel(user, id).await?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_PAGE);
        Ok(self.store.chat_history(id, before, after, limit).await?)
    }

    /// Sends a message as a user (a member) or a bot (the webhook or bot token was checked by
    /// the caller). Refused: past `chat.max_message_bytes`, past `chat.messages_per_minute`
    /// for a user, in an archived channel.
    pub async fn send(&self, author: Author, channel: i64, req: SendMessage) -> ChatResult<Sent> {
        let text = req.text.trim_end().to_string();
        if text.len() > self.config.max_message_bytes {
            return Err(ChatError::TooLarge(self.config.max_message_bytes));
        }
        if text.trim().is_empty() && req.files.is_empty() {
            // A message with files may have no text.
            return Err(ChatError::Invalid("text: a message needs some text".into()));
        }
        if let Some(client_id) = &req.client_id
            && (client_id.is_empty() || client_id.len() > 100)
        {
            return Err(ChatError::Invalid("client_id: 1 to 100 characters".into()));
        }
        if let Author::User(id) = &author {
            self.limiter.take(*id, self.clock.instant()).map_err(ChatError::RateLimited)?;
        }
        let mentions = text::extract(&text);
        let names = self.mentioned_names(channel, mentions.users, mentions.here && !mentions.channel).await?;
        let new = NewMessage {
            channel,
            author,
            client_id: req.client_id,
            thread: req.thread,
            mention_channel: mentions.channel,
            mentions: names,
            text,
            files: req.files,
        };
        // Membership and archiving are checked by the store under the channel's lock (a send
        // is the hot path: no channel read before it); only a refusal asks why.
        match self.store.send_chat_message(&new, self.clock.now()).await {
            Err(StoreError::NotFound) => match new.author {
                Author::User(id) => {
                    let user = self.store.user(id).await?;
                    self.member_channel(&user, channel).await?;
                    // A member: the thread replied to is what is missing.
                    Err(ChatError::NotFound)
                }
                Author::Bot { .. } => Err(ChatError::NotFound),
            },
            other => Ok(other?),
        }
    }

    /// A message the user may see, with its channel.
    pub async fn message(&self, user: &User, id: i64) -> ChatResult<(Message, Channel)> {
        let message = match self.store.chat_message(id).await {
            Err(StoreError::NotFound) => return Err(ChatError::NotFound),
            other => other?,
        };
        let channel = self.channel(user, message.channel).await?;
        Ok((message, channel))
    }

    /// Changes the text of the user's own message.
    pub async fn edit(&self, user: &User, id: i64, text: &str) -> ChatResult<Message> {
        let (message, channel) = self.message(user, id).await?;
        if message.author_id != Some(user.id.0) {
            return Err(ChatError::Forbidden("only the author may edit a message"));
        }
        if channel.archived {
            return Err(ChatError::Archived);
        }
        let text = text.trim_end();
        if text.len() > self.config.max_message_bytes {
            return Err(ChatError::TooLarge(self.config.max_message_bytes));
        }
        if text.trim().is_empty() {
            return Err(ChatError::Invalid("text: a message needs some text (delete it instead)".into()));
        }
        let mentions = text::extract(text);
        let here = mentions.here && !mentions.channel;
        let names = self.mentioned_names(channel.id, mentions.users, here).await?;
        Ok(self.store.edit_chat_message(id, text, &names, mentions.channel, self.clock.now()).await?)
    }

    /// The names a message mentions: `named`, plus, for `@here`, every member of `channel`
    /// who is online now. Membership is read before the write's transaction, which is fine:
    /// the store keeps only names of members at write time, and presence is a moment's
    /// picture anyway.
    async fn mentioned_names(&self, channel: i64, mut named: Vec<String>, here: bool) -> ChatResult<Vec<String>> {
        if !here {
            return Ok(named);
        }
        let members = self.store.chat_members(channel).await?;
        let ids: Vec<UserId> = members.iter().map(|m| UserId(m.user_id)).collect();
        let online: HashSet<UserId> = self.push.online_among(&ids).into_iter().collect();
        let mut seen: HashSet<String> = named.iter().cloned().collect();
        for m in members {
            if online.contains(&UserId(m.user_id)) && seen.insert(m.name.clone()) {
                named.push(m.name);
            }
        }
        Ok(named)
    }

    /// Deletes a message (its author, a channel admin or an administrator): a tombstone.
    pub async fn delete(&self, user: &User, id: i64) -> ChatResult<Message> {
        let (message, channel) = self.message(user, id).await?;
        let manager = channel.role == Some(ChannelRole::Admin) || is_admin(user);
        if message.author_id != Some(user.id.0) && !manager {
            return Err(ChatError::Forbidden("only the author or a channel admin may delete a message"));
        }
        if channel.archived {
            return Err(ChatError::Archived);
        }
        Ok(self.store.delete_chat_message(id, self.clock.now()).await?)
    }

    /// Earlier versions of a message, oldest first.
    pub async fn edit_history(&self, user: &User, id: i64) -> ChatResult<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
        self.message(user, id).await?;
        Ok(self.store.chat_message_history(id).await?)
    }

    pub async fn thread(&self, user: &User, id: i64, after: Option<i64>, limit: Option<i64>) -> ChatResult<ThreadPage> {
        let (message, _) = self.message(user, id).await?;
        let root = message.thread.unwrap_or(message.id);
        let limit = limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        Ok(self.store.chat_thread(root, user.id, after.unwrap_or(0), limit).await?)
    }

    pub async fn follow(&self, user: &User, id: i64, on: bool) -> ChatResult<()> {
        let (message, channel) = self.message(user, id).await?;
        if channel.role.is_none() {
            return Err(ChatError::Forbidden("join the channel first"));
        }
        let root = message.thread.unwrap_or(message.id);
        Ok(self.store.set_chat_follow(channel.id, root, user.id, on, self.clock.now()).await?)
    }

    pub async fn react(&self, user: &User, id: i64, emoji: &str, on: bool) -> ChatResult<Message> {
        let emoji = limits::emoji(emoji)?;
        let (_, channel) = self.message(user, id).await?;
        if channel.role.is_none() {
            return Err(ChatError::Forbidden("join the channel first"));
        }
        Ok(self.store.set_chat_reaction(id, user.id, &emoji, on, self.clock.now()).await?)
    }

    pub async fn pin(&self, user: &User, id: i64, on: bool) -> ChatResult<Message> {
        let (_, channel) = self.message(user, id).await?;
        if channel.role.is_none() {
            return Err(ChatError::Forbidden("join the channel first"));
        }
        Ok(self.store.set_chat_pin(id, user.id, on, self.clock.now()).await?)
    }

    pub async fn pins(&self, user: &User, channel: i64) -> ChatResult<Vec<Message>> {
        self.channel(user, channel).await?;
        Ok(self.store.chat_pins(channel, MAX_PAGE).await?)
    }

    pub async fn read(&self, user: &User, channel: i64, seq: i64) -> ChatResult<ReadState> {
        self.member_channel(user, channel).await?;
        Ok(self.store.mark_chat_read(channel, user.id, seq, self.clock.now()).await?)
    }

    pub async fn thread_read(&self, user: &User, id: i64, seq: i64) -> ChatResult<ReadState> {
        let (message, channel) = self.message(user, id).await?;
        if channel.role.is_none() {
            return Err(ChatError::Forbidden("join the channel first"));
        }
        let root = message.thread.unwrap_or(message.id);
        Ok(self.store.mark_chat_thread_read(channel.id, root, user.id, seq, self.clock.now()).await?)
    }

    pub async fn threads(&self, user: &User) -> ChatResult<Vec<FollowedThread>> {
        Ok(self.store.chat_followed_threads(user.id, MAX_PAGE).await?)
    }

    /// Markdown as a sent message would render it.
    pub fn preview(&self, text: &str) -> ChatResult<String> {
        if text.len() > self.config.max_message_bytes {
            return Err(ChatError::TooLarge(self.config.max_message_bytes));
        }
        Ok(text::render(text))
    }

    /// Brings every channel that follows group `group` in step with its members (called after
    /// an administrator changed the group).
    pub async fn group_changed(&self, group: i64) -> ChatResult<()> {
        let now = self.clock.now();
        for channel in self.store.chat_channels_following(group).await? {
            self.store.sync_chat_group(channel, now).await?;
        }
        Ok(())
    }
}
