//! Operator commands that work on the store directly: bootstrap, API keys, signing keys.

use std::io::Write;

use clap::Subcommand;
use frazil_catalog::{Catalog, IssuedApiKey, NewApiKey, Role};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key and print its id and secret (the secret is shown only now).
    Create {
        #[arg(long)]
        org: String,
        /// Leave out for an organization-wide admin key.
        #[arg(long)]
        env: Option<String>,
        /// reader, writer or admin.
        #[arg(long, default_value = "reader")]
        role: String,
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

/// Creates the server administrator on a server that has none: from FRAZIL_BOOTSTRAP_CLIENT_ID
/// and FRAZIL_BOOTSTRAP_CLIENT_SECRET, or generated, printed once and written to
/// `{data_dir}/bootstrap-credentials.json` (mode 0600).
pub async fn bootstrap(config: &Config, catalog: &Catalog) -> anyhow::Result<()> {
    let from_env = config.bootstrap_client_id.is_some() && config.bootstrap_client_secret.is_some();
    let issued = catalog
        .bootstrap_server_admin(
            config.bootstrap_client_id.clone(),
            config.bootstrap_client_secret.clone(),
        )
        .await?;
    let Some(issued) = issued else {
        return Ok(());
    };
    if from_env {
        println!(
            "Created the server administrator key {} from FRAZIL_BOOTSTRAP_CLIENT_ID.",
            issued.key.id
        );
        return Ok(());
    }
    let file = write_credentials(config, &issued)?;
    println!("Created the server administrator credential (shown only this once):");
    println!("  client id:     {}", issued.key.id);
    println!("  client secret: {}", issued.secret);
    println!("  also saved to {} (mode 0600)", file.display());
    Ok(())
}

fn write_credentials(config: &Config, issued: &IssuedApiKey) -> anyhow::Result<std::path::PathBuf> {
    let dir = config.data_dir_absolute()?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bootstrap-credentials.json");
    let body = serde_json::json!({"client_id": issued.key.id, "client_secret": issued.secret, "role": "admin"});
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(file, "{}", serde_json::to_string_pretty(&body)?)?;
    Ok(path)
}

pub async fn api_key(command: ApiKeyCommand, catalog: &Catalog) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            org,
            env,
            role,
            description,
        } => {
            let role: Role = role.parse()?;
            let issued = catalog
                .create_api_key(NewApiKey {
                    org_id: Some(org),
                    env_id: env,
                    role: Some(role),
                    description,
                    ..NewApiKey::default()
                })
                .await?;
            println!("key:    {}", issued.key.id);
            println!("secret: {}", issued.secret);
        }
    }
    Ok(())
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
            println!(
                "New signing key {}; {retired} older key(s) retired.",
                record.kid
            );
        }
    }
    Ok(())
}
