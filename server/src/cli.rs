//! Operator commands that work on the store directly: API keys and signing keys (the server
//! administrator's key is in `bootstrap`).

use clap::Subcommand;
use frazil_catalog::{Catalog, NewApiKey, Role};

use crate::stdout;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key and print its id and secret (the secret is shown only now).
    Create {
        #[arg(long)]
        org: String,
        /// Leave out for an organization-wide key (admin role only).
        #[arg(long)]
        env: Option<String>,
        /// reader, writer or admin. Default: admin for an organization key (no --env), reader
        /// for an environment key.
        #[arg(long)]
        role: Option<Role>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new token signing key. Tokens signed by the previous key stay valid until the next
    /// rotation; older keys are retired. Rotate less often than the token lifetime.
    Rotate,
}

pub async fn api_key(command: ApiKeyCommand, catalog: &Catalog) -> anyhow::Result<()> {
    let ApiKeyCommand::Create {
        org,
        env,
        role,
        description,
    } = command;
    // Organization keys can only be admin keys: defaulting to reader made the command fail.
    let role = role.unwrap_or(match env {
        Some(_) => Role::Reader,
        None => Role::Admin,
    });
    let issued = catalog
        .create_api_key(NewApiKey {
            org_id: Some(org),
            env_id: env,
            role: Some(role),
            description,
            ..NewApiKey::default()
        })
        .await?;
    Ok(stdout::print(&format!(
        "key:    {}\nsecret: {}\nrole:   {}\n",
        issued.key.id,
        issued.secret,
        role.as_str()
    ))?)
}

pub async fn keys(command: KeysCommand, catalog: &Catalog) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let previous = catalog.signing_keys().await?.into_iter().next();
            let record = crate::auth::generate_signing_key(chrono::Utc::now().timestamp_millis())?;
            catalog.add_signing_key(&record).await?;
            let retired = match previous {
                Some(previous) => {
                    catalog
                        .retire_signing_keys(&previous.kid, previous.created_at_ms)
                        .await?
                }
                None => 0,
            };
            stdout::print(&format!(
                "New signing key {}; {retired} older key(s) retired.\n",
                record.kid
            ))?;
        }
    }
    Ok(())
}
