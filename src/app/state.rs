//! The state every handler shares (`AppState`): the one place the services are wired together.
//!
//! It sits above the doors (`../shared/LAYERS.md`, app assembly) but apart from the router in
//! `app/mod.rs`: handlers name this file to extract their state, and the router names the
//! handlers, so neither imports the other back.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::store::{Store, StoreError};

/// The HTTP-level settings, from `[server]`.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_size: usize,
    pub request_timeout: Duration,
    /// Which peers' `X-Forwarded-*` headers are believed.
    pub proxies: crate::proxies::TrustedProxies,
    /// Who may read `/metrics`.
    pub metrics: crate::config::MetricsAccess,
}

impl From<&crate::config::ServerConfig> for HttpSettings {
    fn from(c: &crate::config::ServerConfig) -> Self {
        Self {
            max_body_size: c.max_body_size,
            request_timeout: c.request_timeout,
            proxies: c.proxies.clone(),
            metrics: c.metrics.clone(),
        }
    }
}

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub accounts: Arc<Accounts>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<HttpSettings>,
    /// Calendars and address books: the `[dav]` settings both doors obey, provisioning.
    pub collections: Arc<crate::collections::Collections>,
    /// Web sign-in and account pages: settings, keys, mailer.
    pub web: Arc<crate::web::WebService>,
    /// The OpenID Connect provider.
    pub oidc: Arc<crate::oidc::Oidc>,
    /// The push channel (`/api/v1/push`).
    pub push: Arc<crate::push::PushService>,
    /// Which modules are on for the instance (read through a short cache).
    pub modules: Arc<crate::modules::Modules>,
    /// The product name, logo and colour (`[brand]`): pages, mail, the web client.
    pub brand: Arc<crate::brand::Brand>,
    /// Team chat: channels, messages, read state (`[chat]`).
    pub chat: Arc<crate::chat::ChatService>,
    /// Chat's incoming webhooks and bots.
    pub integrations: Arc<crate::chat_integrations::Integrations>,
    /// File contents (`[blob]`): a local directory or an S3-compatible bucket.
    pub blobs: crate::blob::BlobStore,
    /// Chat files: uploads, downloads, thumbnails (over `blobs`).
    pub chat_files: Arc<crate::chat_files::ChatFiles>,
    /// Linked mail accounts (`[mail]`).
    pub mail: Arc<crate::mail::MailService>,
    /// Where mail apps connect (`[mailproxy]`): what device set-up (autoconfig, the Apple
    /// profile) tells them. The listeners themselves are started by `serve`.
    pub mailproxy: Arc<crate::config::MailProxyConfig>,
    /// External calendar subscriptions (`dav.subscription_*`): fetching feeds into read-only calendars.
    pub subscriptions: Arc<crate::subscriptions::Subscriptions>,
}

impl AppState {
    /// Wires the services on top of a migrated store; the one place that
    /// knows how they fit together (server, CLI and tests all use it).
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        auth_config: AuthConfig,
        settings: HttpSettings,
    ) -> Result<AppState, StoreError> {
        // One sealing box for the whole process: TOTP seeds (web) and signing
        // keys (OIDC) are sealed under the same key.
        let (secretbox, secretbox_fallback) =
            crate::auth::secretbox::SecretBox::for_instance(&store, clock.now(), auth_config.encryption_key.as_ref())
                .await?;
        let oidc = Arc::new(
            crate::oidc::Oidc::new(store.clone(), clock.clone(), Default::default(), secretbox.clone()).await?,
        );
        let auth = Arc::new(
            Authenticator::new(store.clone(), clock.clone(), auth_config.clone()).await?.with_bearer(oidc.bearer()),
        );
        let web = Arc::new(
            crate::web::WebService::new(
                &store,
                clock.as_ref(),
                (secretbox, secretbox_fallback),
                Default::default(),
                None,
            )
            .await?,
        );
        let accounts = Arc::new(Accounts::new(store.clone(), auth.clone(), clock.clone(), auth_config));
        let collections = Arc::new(crate::collections::Collections::new(crate::config::DavConfig::default()));
        let push = crate::push::PushService::start(store.clone(), crate::config::PushConfig::default());
        let modules = Arc::new(crate::modules::Modules::new(store.clone(), clock.clone()));
        let brand = Arc::new(crate::brand::Brand::default());
        let integrations = Arc::new(crate::chat_integrations::Integrations::new(
            store.clone(),
            clock.clone(),
            crate::config::ChatConfig::default().webhook_posts_per_minute,
        ));
        let chat = Arc::new(crate::chat::ChatService::new(
            store.clone(),
            push.clone(),
            crate::config::ChatConfig::default(),
            clock.clone(),
        ));
        // In memory until `with_blobs` names the configured store (tests, CLI commands).
        let blobs = crate::blob::BlobStore::memory();
        let chat_files = Arc::new(crate::chat_files::ChatFiles::new(
            store.clone(),
            blobs.clone(),
            clock.clone(),
            Default::default(),
        ));
        // Signs the mail image proxy's URLs; in the database so every process accepts them.
        let image_key = crate::auth::app_password::KeyedHasher::instance(&store, "mail-image-key", clock.now()).await?;
        let mail = Arc::new(
            crate::mail::MailService::new(
                store.clone(),
                clock.clone(),
                web.secretbox.clone(),
                image_key,
                Default::default(),
            )
            .map_err(StoreError::Internal)?,
        );
        let subscriptions = Arc::new(
            crate::subscriptions::Subscriptions::new(Default::default(), web.secretbox.clone())
                .map_err(StoreError::Internal)?,
        );
        Ok(AppState {
            subscriptions,
            mail,
            mailproxy: Default::default(),
            store,
            auth,
            accounts,
            clock,
            settings: Arc::new(settings),
            collections,
            web,
            oidc,
            push,
            modules,
            brand,
            chat,
            integrations,
            blobs,
            chat_files,
        })
    }

    /// Appends `entry` to the audit log; never fails the action (see `audit`).
    pub async fn audit(&self, entry: crate::audit::Entry) {
        crate::audit::record_in(&self.store, self.clock.now(), entry).await;
    }

    /// Replaces the default web settings (and mailer) with configured ones.
    pub fn with_web(mut self, config: crate::config::WebConfig, mailer: Option<crate::mailer::Mailer>) -> AppState {
        self.web = Arc::new(self.web.reconfigured(config, mailer));
        self
    }

    /// Replaces the default OpenID Connect settings (issuer, lifetimes).
    pub fn with_oidc(mut self, config: crate::config::OidcConfig) -> AppState {
        self.oidc = Arc::new(self.oidc.reconfigured(config));
        self
    }

    /// Replaces the default push settings with configured ones.
    pub fn with_push(mut self, config: crate::config::PushConfig) -> AppState {
        self.push = crate::push::PushService::start(self.store.clone(), config);
        // Chat asks the push service who is online (`@here`): it must ask this one.
        let chat_config = self.chat.config().clone();
        self.chat = Arc::new(crate::chat::ChatService::new(
            self.store.clone(),
            self.push.clone(),
            chat_config,
            self.clock.clone(),
        ));
        self
    }

    /// Replaces the default chat settings with configured ones.
    pub fn with_chat(mut self, config: crate::config::ChatConfig) -> AppState {
        self.integrations = Arc::new(crate::chat_integrations::Integrations::new(
            self.store.clone(),
            self.clock.clone(),
            config.webhook_posts_per_minute,
        ));
        self.chat =
            Arc::new(crate::chat::ChatService::new(self.store.clone(), self.push.clone(), config, self.clock.clone()));
        self
    }

    /// Replaces the default brand with the configured one.
    pub fn with_brand(mut self, brand: crate::brand::Brand) -> AppState {
        self.brand = Arc::new(brand);
        self
    }

    /// Replaces the in-memory blob store and the default chat file limits with configured ones.
    pub fn with_blobs(mut self, blobs: crate::blob::BlobStore, config: crate::config::ChatFilesConfig) -> AppState {
        self.chat_files =
            Arc::new(crate::chat_files::ChatFiles::new(self.store.clone(), blobs.clone(), self.clock.clone(), config));
        self.blobs = blobs;
        self
    }

    /// Replaces the default mail settings with configured ones; an unusable `mail.ca_file` is
    /// the error.
    pub fn with_mail(mut self, config: crate::config::MailConfig) -> Result<AppState, String> {
        self.mail = Arc::new(crate::mail::MailService::new(
            self.store.clone(),
            self.clock.clone(),
            self.web.secretbox.clone(),
            self.mail.image_key(),
            config,
        )?);
        Ok(self)
    }

    /// Replaces the default mail listener settings with configured ones.
    pub fn with_mailproxy(mut self, config: crate::config::MailProxyConfig) -> AppState {
        self.mailproxy = Arc::new(config);
        self
    }

    /// The mail listeners' shared service over this state's services.
    pub fn mail_proxy(&self) -> Arc<crate::mailproxy::MailProxy> {
        Arc::new(crate::mailproxy::MailProxy::new(
            self.store.clone(),
            self.auth.clone(),
            self.mail.clone(),
            self.modules.clone(),
            self.clock.clone(),
            (*self.mailproxy).clone(),
        ))
    }

    /// Replaces the default DAV settings with configured ones.
    pub fn with_dav(mut self, config: crate::config::DavConfig) -> AppState {
        // Built from defaults already, so only a broken TLS provider could fail here; the
        // defaults are kept then rather than failing the whole start.
        if let Ok(subscriptions) = self.subscriptions.reconfigured(config.subscriptions.clone()) {
            self.subscriptions = Arc::new(subscriptions);
        }
        self.collections = Arc::new(crate::collections::Collections::new(config));
        self
    }
}
