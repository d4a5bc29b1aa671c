//! `madang oidc …`: OAuth clients and signing keys from the command line,
//! through the same [`super::clients::Clients`] service as the admin API.

use clap::{Args, Subcommand};

use super::clients::{ClientError, ClientUpdate, NewClient};
use crate::app::state::AppState;
use crate::cli::CliError;
use crate::store::oidc::{OAuthClient, PkcePolicy, SigningAlg};

#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Manage OAuth clients (relying parties such as Gitea).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Add a new id_token signing key per algorithm and sign with it; the
    /// old keys stay published until the tokens they signed have expired.
    RotateKeys,
}

#[derive(Debug, Args)]
pub struct ClientSettings {
    /// Redirect URI (repeatable); matched exactly.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where the client may send people after signing out (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// PKCE policy: `required` (default) or `optional` (for clients that
    /// cannot do PKCE, such as older Gitea); public clients always require it.
    #[arg(long, value_parser = ["required", "optional"])]
    pub pkce: Option<String>,
    /// Scopes the client may be granted (repeatable or space-separated).
    /// Default: openid profile email groups offline_access.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Display name shown on the consent screen.
    #[arg(long)]
    pub name: Option<String>,
    /// id_token signature algorithm: RS256 (default) or ES256.
    #[arg(long, value_parser = ["RS256", "ES256"])]
    pub id_token_alg: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints `client_secret: <secret>` for a confidential client (shown once).
    Add {
        client_id: String,
        #[command(flatten)]
        settings: ClientSettings,
        /// A public client (native or browser app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Trusted by the admin: skip the consent screen.
        #[arg(long)]
        first_party: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client; options given replace the current values.
    Update {
        client_id: String,
        #[command(flatten)]
        settings: ClientSettings,
        /// `true` to skip the consent screen, `false` to show it.
        #[arg(long)]
        first_party: Option<bool>,
    },
    /// Replace a confidential client's secret and print the new one (shown once).
    RotateSecret { client_id: String },
    /// Delete a client and every token it holds.
    Delete { client_id: String },
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m) => CliError::Usage(m),
            other => CliError::Failed(other.to_string()),
        }
    }
}

fn print_client(c: &OAuthClient) {
    println!("client_id:                 {}", c.client_id);
    println!("name:                      {}", c.name);
    println!("type:                      {}", if c.public { "public" } else { "confidential" });
    println!("redirect URIs:             {}", c.redirect_uris.join(" "));
    println!("post-logout redirect URIs: {}", c.post_logout_redirect_uris.join(" "));
    println!("scopes:                    {}", c.allowed_scopes.join(" "));
    println!("pkce:                      {}", c.pkce.as_str());
    println!("first party:               {}", if c.first_party { "yes (no consent screen)" } else { "no" });
    println!("id_token algorithm:        {}", c.id_token_alg.as_str());
    println!("created:                   {}", c.created_at.to_rfc3339());
}

fn json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn alg(s: Option<&str>) -> Option<SigningAlg> {
    s.and_then(SigningAlg::parse)
}

pub async fn run(state: &AppState, cmd: OidcCommand) -> Result<(), CliError> {
    let oidc = &state.oidc;
    let clients = oidc.clients();
    match cmd {
        OidcCommand::RotateKeys => {
            let kids = oidc.keys.rotate(oidc.now(), oidc.key_retention()).await?;
            for kid in kids {
                println!("{kid}");
            }
            eprintln!("new signing keys are in use; the old ones stay published until their tokens expire");
        }
        OidcCommand::Client(ClientCommand::Add { client_id, settings, public, first_party }) => {
            let new = NewClient {
                client_id,
                name: settings.name,
                redirect_uris: settings.redirect_uris,
                post_logout_redirect_uris: settings.post_logout_redirect_uris,
                public,
                pkce: settings.pkce.as_deref().and_then(PkcePolicy::parse),
                scopes: (!settings.scopes.is_empty()).then_some(settings.scopes),
                first_party,
                id_token_alg: alg(settings.id_token_alg.as_deref()),
            };
            let (client, secret) = clients.create(new, None).await?;
            println!("client_id: {}", client.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("the secret is shown only this once; Madang keeps only a hash of it");
            }
            eprintln!("issuer: {}", oidc.config.issuer);
            eprintln!("discovery: {}", oidc.endpoint(".well-known/openid-configuration"));
        }
        OidcCommand::Client(ClientCommand::List { json: as_json }) => {
            let list = clients.list().await?;
            if as_json {
                json(&list)?;
            } else {
                let width = list.iter().map(|c| c.client_id.len()).max().unwrap_or(0).max(9);
                println!("{:<width$} {:<12} {:<8} REDIRECT URIS", "CLIENT_ID", "TYPE", "PKCE");
                for c in list {
                    let kind = if c.public { "public" } else { "confidential" };
                    println!("{:<width$} {kind:<12} {:<8} {}", c.client_id, c.pkce.as_str(), c.redirect_uris.join(" "));
                }
            }
        }
        OidcCommand::Client(ClientCommand::Show { client_id, json: as_json }) => {
            let c = clients.get(&client_id).await?;
            if as_json { json(&c)? } else { print_client(&c) }
        }
        OidcCommand::Client(ClientCommand::Update { client_id, settings, first_party }) => {
            let update = ClientUpdate {
                name: settings.name,
                redirect_uris: (!settings.redirect_uris.is_empty()).then_some(settings.redirect_uris),
                post_logout_redirect_uris: (!settings.post_logout_redirect_uris.is_empty())
                    .then_some(settings.post_logout_redirect_uris),
                pkce: settings.pkce.as_deref().and_then(PkcePolicy::parse),
                scopes: (!settings.scopes.is_empty()).then_some(settings.scopes),
                first_party,
                id_token_alg: alg(settings.id_token_alg.as_deref()),
            };
            let c = clients.update(&client_id, update, None).await?;
            print_client(&c);
        }
        OidcCommand::Client(ClientCommand::RotateSecret { client_id }) => {
            let secret = clients.rotate_secret(&client_id, None).await?;
            println!("client_secret: {secret}");
            eprintln!("the old secret no longer works; the new one is shown only this once");
        }
        OidcCommand::Client(ClientCommand::Delete { client_id }) => {
            clients.delete(&client_id, None).await?;
            eprintln!("OAuth client {client_id} deleted");
        }
    }
    Ok(())
}
