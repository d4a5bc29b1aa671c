//! The `madang` command line: `serve`, `migrate`, `config`, `user`,
//! `app-password`. Every command prints one line on failure and exits
//! non-zero: 2 for bad configuration or input, 1 when the operation failed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::accounts::{AccountError, NewAccount};
use crate::app::{self, AppState, HttpSettings};
use crate::clock::SystemClock;
use crate::config::{Config, ConfigError, Overrides};
use crate::domain::{AppPasswordId, Role, User, UserState};
use crate::http;
use crate::store::{SchemaStatus, Store, StoreError};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "madang",
    version,
    about = "Madang: calendars, contacts, identity and mail for your team, on your server"
)]
pub struct Cli {
    /// Configuration file (default: ./madang.toml if it exists). Also MADANG_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080. Also MADANG_LISTEN.
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory for the embedded database. Also MADANG_DATA_DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Database URL (sqlite://… or postgres://…). Prefer MADANG_DATABASE_URL:
    /// a password on the command line is visible to other local users.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage app passwords (per-device passwords for calendar and contact apps).
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCommand),
    /// The OpenID Connect provider: OAuth clients and signing keys.
    #[command(subcommand)]
    Oidc(crate::oidc::cli::OidcCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets masked) and check the database.
    Check,
    /// Print the table of every configuration key, as in docs/configuration.md.
    Reference,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active user. The password is asked twice on a terminal, or
    /// read from the first line of standard input.
    Add {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Create the account without a password (it can only use app passwords).
        #[arg(long)]
        no_password: bool,
    },
    /// List all users.
    List(JsonFlag),
    /// Show one user.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Set a user's password (read like `user add`).
    SetPassword { name: String },
    /// Make a user `admin` or `member`.
    SetRole {
        name: String,
        #[arg(value_parser = ["admin", "member"])]
        role: String,
    },
    /// Approve a pending sign-up.
    Approve { name: String },
    /// Disable an account: it can no longer sign in, its data stays.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
    /// Print a one-time link that lets the user choose a new password
    /// (valid for `web.reset_link_lifetime`). For servers without SMTP.
    ResetLink { name: String },
    /// Delete an account and everything it owns.
    Delete {
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordCommand {
    /// Create an app password and print it on standard output (shown once).
    Add { user: String, label: String },
    /// List a user's app passwords.
    List {
        user: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke an app password by its id (see `list`).
    Revoke { user: String, id: String },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A failed command: the message is printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration or input: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed: exit status 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Usage(e.0)
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<AccountError> for CliError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(m) => CliError::Usage(m.0),
            other => CliError::Failed(other.to_string()),
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let overrides = Overrides {
        config_file: cli.config.clone(),
        listen: cli.listen.clone(),
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    };
    if let Some(Command::Config(ConfigCommand::Reference)) = &cli.command {
        print!("{}", crate::config::reference_markdown());
        return Ok(());
    }
    let config = Config::load(&overrides)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Config(ConfigCommand::Check) => config_check(config).await,
        Command::Config(ConfigCommand::Reference) => Ok(()),
        Command::User(cmd) => {
            let ctx = open_state(&config).await?;
            user_command(&ctx, cmd).await
        }
        Command::AppPassword(cmd) => {
            let ctx = open_state(&config).await?;
            app_password_command(&ctx, cmd).await
        }
        Command::Oidc(cmd) => {
            let ctx = open_state(&config).await?;
            crate::oidc::cli::run(&ctx, cmd).await
        }
    }
}

/// The administrative commands work on the same services as the server.
async fn open_state(config: &Config) -> Result<AppState, CliError> {
    // Administrative commands log only warnings, so their output stays clean.
    let mut log = config.log.clone();
    log.level = "warn".into();
    telemetry::init_logging(&log);
    let store = open_store(config).await?;
    Ok(AppState::new(store, Arc::new(SystemClock), config.auth.clone(), HttpSettings::from(&config.server))
        .await?
        .with_web(config.web.clone(), None)
        .with_oidc(config.oidc.clone())
        .with_brand(crate::brand::Brand::load(&config.brand)?))
}

async fn open_store(config: &Config) -> Result<Store, CliError> {
    let store = Store::connect(&config.database).await?;
    store.migrate().await?;
    Ok(store)
}

async fn serve(config: Config) -> Result<(), CliError> {
    telemetry::init_logging(&config.log);
    let tls = match &config.server.tls {
        Some(files) => Some(http::server::tls_config(files).map_err(CliError::Usage)?),
        None => None,
    };
    if let Some(files) = config.mailproxy.tls.as_ref().filter(|_| config.mailproxy.enabled()) {
        http::server::tls_config(files).map_err(CliError::Usage)?;
    }
    // Read before the database is touched: a bad logo is a configuration error (exit 2).
    let brand = crate::brand::Brand::load(&config.brand)?;
    let store = open_store(&config).await?;
    let state =
        AppState::new(store.clone(), Arc::new(SystemClock), config.auth.clone(), HttpSettings::from(&config.server))
            .await?
            .with_dav(config.dav.clone())
            .with_web(config.web.clone(), mailer(&config)?)
            .with_oidc(config.oidc.clone())
            .with_push(config.push.clone())
            .with_chat(config.chat.clone())
            .with_brand(brand)
            .with_blobs(
                crate::blob::BlobStore::open(&config.blob).map_err(|e| CliError::Usage(e.to_string()))?,
                config.chat_files.clone(),
            )
            .with_mail(config.mail.clone())
            .map_err(CliError::Usage)?
            .with_mailproxy(config.mailproxy.clone());
    tracing::info!(backend = state.blobs.kind(), "blob store ready");
    crate::chat_files::spawn_pruning(state.chat_files.clone());
    crate::mail::watch::spawn(state.mail.clone(), state.modules.clone());
    crate::web::session::spawn_purge(store.clone(), state.clock.clone(), config.web.session_idle_timeout);
    if state.web.secretbox_fallback {
        tracing::warn!(
            "auth.encryption_key is not set: TOTP seeds and signing keys are sealed with a key kept in the database \
             itself, so a copy of the database reveals them; set MADANG_AUTH_ENCRYPTION_KEY (32 random bytes, base64) \
             before enrolling anyone"
        );
    }
    crate::dav::spawn_tombstone_pruning(store.clone(), state.clock.clone(), config.dav.tombstone_retention);
    crate::push::spawn_pruning(store.clone(), state.clock.clone(), config.push.clone());
    crate::subscriptions::spawn(
        store.clone(),
        state.collections.clone(),
        state.subscriptions.clone(),
        state.clock.clone(),
    );
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", config.server.listen)))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let address = listener.local_addr().unwrap_or(config.server.listen);
    tracing::info!(
        database = %config.database.url.redacted(),
        "Madang {} listening on {scheme}://{address}/",
        env!("CARGO_PKG_VERSION")
    );
    if store.count_active_admins().await? == 0 {
        tracing::warn!(
            "no admin account yet; create one with: madang user add <name> --email <address> --admin \
             (add --data-dir/--database-url as for this server)"
        );
    }
    let mail_proxy = state.mail_proxy();
    crate::mailproxy::listen::spawn_configured(mail_proxy.clone()).await.map_err(CliError::Failed)?;
    let push = state.push.clone();
    // Open push streams never finish by themselves: ending them lets in-flight requests,
    // not idle listeners, use the shutdown grace period. Mail sessions say BYE / 421.
    let shutdown = async move {
        http::server::shutdown_signal().await;
        push.close();
        mail_proxy.shut_down();
    };
    http::server::serve(listener, app::app(state), tls, shutdown, config.server.shutdown_timeout).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The SMTP mailer, if `[smtp]` is configured.
fn mailer(config: &Config) -> Result<Option<crate::mailer::Mailer>, CliError> {
    match &config.smtp {
        Some(smtp) => Ok(Some(
            crate::mailer::Mailer::from_config(smtp)
                .map_err(|e| CliError::Usage(e.to_string()))?
                .with_sender_name(&config.brand.name),
        )),
        None => Ok(None),
    }
}

/// `3600s` as `1h`, `90s` as `90s`: for messages.
fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

async fn migrate(config: Config) -> Result<(), CliError> {
    let store = Store::connect(&config.database).await?;
    let before = store.schema_status().await?;
    let after = store.migrate().await?;
    match (before, after) {
        (SchemaStatus::Current { version }, _) => println!("database is up to date (schema version {version})"),
        (SchemaStatus::Behind { applied, .. }, SchemaStatus::Current { version }) => {
            println!("migrated the database from schema version {applied} to {version}")
        }
        (_, SchemaStatus::Behind { applied, known }) => {
            return Err(CliError::Failed(format!("migration stopped at version {applied} of {known}")));
        }
    }
    Ok(())
}

async fn config_check(config: Config) -> Result<(), CliError> {
    print!("{}", config.describe());
    if let Some(files) = &config.server.tls {
        http::server::tls_config(files).map_err(CliError::Usage)?;
        println!("# TLS certificate and key: ok");
    }
    if config.brand.logo.is_some() {
        crate::brand::Brand::load(&config.brand)?;
        println!("# brand logo: ok");
    }
    let store = Store::connect(&config.database).await?;
    match store.schema_status().await? {
        SchemaStatus::Current { version } => {
            println!("# database {}: reachable, schema version {version}", config.database.url.redacted())
        }
        SchemaStatus::Behind { applied, known } => println!(
            "# database {}: reachable, schema version {applied}; version {known} will be applied on start",
            config.database.url.redacted()
        ),
    }
    store.close().await;
    Ok(())
}

/// A new password: asked twice on a terminal, else the first line of stdin.
fn read_new_password() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| CliError::Failed(e.to_string()))?;
        let second = rpassword::prompt_password("Repeat password: ").map_err(|e| CliError::Failed(e.to_string()))?;
        if first != second {
            return Err(CliError::Usage("the passwords do not match".into()));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(|e| CliError::Failed(format!("cannot read password: {e}")))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            return Err(CliError::Usage(
                "no password given: type it at the prompt, or pass it as the first line of standard input".into(),
            ));
        }
        Ok(password.to_string())
    }
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn print_users(users: &[User]) {
    let name_width = users.iter().map(|u| u.username.as_str().len()).max().unwrap_or(0).max(8);
    let email_width = users.iter().map(|u| u.email.as_str().len()).max().unwrap_or(0).max(5);
    println!("{:<6} {:<name_width$} {:<email_width$} {:<7} {:<9} CREATED", "ID", "USERNAME", "EMAIL", "ROLE", "STATE");
    for u in users {
        println!(
            "{:<6} {:<name_width$} {:<email_width$} {:<7} {:<9} {}",
            u.id,
            u.username,
            u.email,
            u.role,
            u.state,
            u.created_at.format("%Y-%m-%d %H:%M")
        );
    }
}

/// Records an administrative change made from the command line, with the
/// same action names as the admin API; the actor is the operator's shell.
async fn audit_cli(ctx: &AppState, action: &str, target: &str, detail: &str) {
    let entry = crate::audit::Entry::new(action).actor_name("command line").target(target).detail(detail);
    ctx.audit(entry).await;
}

async fn user_command(ctx: &AppState, cmd: UserCommand) -> Result<(), CliError> {
    let accounts = &ctx.accounts;
    match cmd {
        UserCommand::Add { name, email, display_name, admin, no_password } => {
            // Validate what we can before asking for a password.
            crate::domain::Username::parse(&name).map_err(AccountError::from)?;
            crate::domain::Email::parse(&email).map_err(AccountError::from)?;
            let password = if no_password { None } else { Some(read_new_password()?) };
            if let Some(p) = &password {
                accounts.check_password_policy(p).map_err(AccountError::from)?;
            }
            let role = if admin { Role::Admin } else { Role::Member };
            let user = accounts
                .add_user(NewAccount { username: name, email, display_name, role, state: UserState::Active, password })
                .await?;
            audit_cli(ctx, "admin.user.create", user.username.as_str(), user.role.as_str()).await;
            eprintln!("created {} user {} (id {})", user.role, user.username, user.id);
        }
        UserCommand::List(flag) => {
            let users = ctx.store.users().await?;
            if flag.json {
                print_json(&users)?;
            } else {
                print_users(&users);
            }
        }
        UserCommand::Show { name, json } => {
            let (user, app_passwords) = accounts.app_passwords(&name).await?;
            if json.json {
                print_json(&serde_json::json!({ "user": user, "app_passwords": app_passwords.len() }))?;
            } else {
                println!("id:            {}", user.id);
                println!("username:      {}", user.username);
                println!("email:         {}", user.email);
                println!("display name:  {}", user.display_name);
                println!("role:          {}", user.role);
                println!("state:         {}", user.state);
                println!("created:       {}", user.created_at.to_rfc3339());
                println!("updated:       {}", user.updated_at.to_rfc3339());
                println!("app passwords: {}", app_passwords.len());
            }
        }
        UserCommand::SetPassword { name } => {
            accounts.user(&name).await?;
            let password = read_new_password()?;
            let user = accounts.set_password(&name, &password, None).await?;
            audit_cli(ctx, "admin.user.set_password", user.username.as_str(), "").await;
            eprintln!("password of {} changed", user.username);
        }
        UserCommand::SetRole { name, role } => {
            let role: Role = role.parse().map_err(AccountError::from)?;
            let user = accounts.set_role(&name, role).await?;
            audit_cli(ctx, "admin.user.role", user.username.as_str(), role.as_str()).await;
            eprintln!("{} is now {}", user.username, user.role);
        }
        UserCommand::Approve { name } => {
            let user = accounts.approve(&name).await?;
            audit_cli(ctx, "admin.user.approve", user.username.as_str(), "").await;
            eprintln!("{} approved; the account is active", user.username);
        }
        UserCommand::Disable { name } => {
            let user = accounts.disable(&name).await?;
            audit_cli(ctx, "admin.user.disable", user.username.as_str(), "").await;
            eprintln!("{} disabled", user.username);
        }
        UserCommand::Enable { name } => {
            let user = accounts.enable(&name).await?;
            audit_cli(ctx, "admin.user.enable", user.username.as_str(), "").await;
            eprintln!("{} enabled", user.username);
        }
        UserCommand::ResetLink { name } => {
            let user = accounts.user(&name).await?;
            if user.state != UserState::Active {
                return Err(CliError::Failed(format!(
                    "{} is {}; only active accounts can reset their password",
                    user.username, user.state
                )));
            }
            let link = crate::web::reset::issue_link(ctx, &user, None).await?;
            audit_cli(ctx, "admin.user.reset_link", user.username.as_str(), "").await;
            println!("{link}");
            eprintln!(
                "one-time link for {}; it expires in {}",
                user.username,
                humanize(ctx.web.config.reset_link_lifetime)
            );
        }
        UserCommand::Delete { name, yes } => {
            let user = accounts.user(&name).await?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Usage(format!(
                        "refusing to delete {} without confirmation; add --yes",
                        user.username
                    )));
                }
                if !confirm(&format!("Delete {} and all of their data?", user.username)) {
                    return Err(CliError::Failed("not deleted".into()));
                }
            }
            accounts.delete(&name).await?;
            audit_cli(ctx, "admin.user.delete", user.username.as_str(), "").await;
            eprintln!("{} deleted", user.username);
        }
    }
    Ok(())
}

async fn app_password_command(ctx: &AppState, cmd: AppPasswordCommand) -> Result<(), CliError> {
    let accounts = &ctx.accounts;
    match cmd {
        AppPasswordCommand::Add { user, label } => {
            let (created, secret) = accounts.add_app_password(&user, &label).await?;
            println!("{secret}");
            eprintln!(
                "app password {} (`{}`) created for {user}; it is shown only this once",
                created.id, created.label
            );
        }
        AppPasswordCommand::List { user, json } => {
            let (_, list) = accounts.app_passwords(&user).await?;
            if json.json {
                print_json(&list)?;
            } else {
                let width = list.iter().map(|a| a.label.chars().count()).max().unwrap_or(0).max(5);
                println!("{:<6} {:<width$} {:<17} LAST USED", "ID", "LABEL", "CREATED");
                for a in list {
                    let last =
                        a.last_used_at.map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string());
                    println!("{:<6} {:<width$} {:<17} {last}", a.id, a.label, a.created_at.format("%Y-%m-%d %H:%M"));
                }
            }
        }
        AppPasswordCommand::Revoke { user, id } => {
            let id: AppPasswordId = id.parse().map_err(AccountError::from)?;
            accounts.revoke_app_password(&user, id).await?;
            eprintln!("app password {id} of {user} revoked");
        }
    }
    Ok(())
}
