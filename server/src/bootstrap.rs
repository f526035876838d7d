//! The server administrator's key: created on first start, issued anew by an operator who lost
//! it (`frazil admin-key create`), and the `FRAZIL_BOOTSTRAP_*` variables checked against it.
//!
//! The variables create the administrator only on a server that has none; afterwards they are
//! ignored. An operator who changed them expecting a new credential was left with none that
//! worked and no word why, so start-up now says when they no longer match the stored key, and
//! anyone with access to the store (its database and master key) can issue a new one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use frazil_catalog::{ApiKey, Catalog, CatalogError, IssuedApiKey, NewApiKey, Role};

use crate::config::Config;
use crate::stdout;

/// The file the first start's generated credential is saved in.
const BOOTSTRAP_FILE: &str = "bootstrap-credentials.json";
/// How the command issues a new key, for messages.
const NEW_KEY_COMMAND: &str = "frazil admin-key create";

#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Issue a new server administrator key and print it (the secret is shown only now); it is
    /// also written to {data_dir}/admin-key-{id}.json (mode 0600). For an operator who lost the
    /// administrator's credential: it needs only the configuration that reaches the store.
    Create {
        #[arg(long, default_value = "server administrator (admin-key create)")]
        description: String,
    },
    /// List the server administrator keys (never their secrets).
    List,
    /// Revoke a server administrator key, e.g. a lost one; its tokens stop working within seconds.
    Revoke {
        /// The key id (client id).
        key: String,
    },
}

/// Who asks for the bootstrap: `frazil bootstrap` reports an existing administrator, `serve`
/// stays quiet about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Serve,
    Command,
}

/// Creates the server administrator on a server that has none: from FRAZIL_BOOTSTRAP_CLIENT_ID
/// and FRAZIL_BOOTSTRAP_CLIENT_SECRET, or generated, printed once and written to
/// `{data_dir}/bootstrap-credentials.json` (mode 0600). On a server that has one, warns when
/// those variables no longer match it.
pub async fn bootstrap(config: &Config, catalog: &Catalog, caller: Caller) -> anyhow::Result<()> {
    let variables =
        config.bootstrap_client_id.is_some() && config.bootstrap_client_secret.is_some();
    let issued = catalog
        .bootstrap_server_admin(
            config.bootstrap_client_id.clone(),
            config.bootstrap_client_secret.clone(),
        )
        .await?;
    let text = match issued {
        None => {
            warn_if_variables_are_stale(config, catalog).await;
            if caller == Caller::Serve {
                return Ok(());
            }
            format!(
                "This server already has an administrator key; bootstrap created none.\n\
                 If its credential is lost, issue a new one with `{NEW_KEY_COMMAND}`.\n"
            )
        }
        Some(issued) if variables => format!(
            "Created the server administrator key {} from FRAZIL_BOOTSTRAP_CLIENT_ID.\n",
            issued.key.id
        ),
        Some(issued) => {
            let file = write_credentials(config, &issued, BOOTSTRAP_FILE)?;
            shown_once(
                "Created the server administrator credential",
                &issued,
                &file,
            )
        }
    };
    Ok(stdout::print(&text)?)
}

pub async fn admin_key(
    command: AdminKeyCommand,
    config: &Config,
    catalog: &Catalog,
) -> anyhow::Result<()> {
    let text = match command {
        AdminKeyCommand::Create { description } => {
            let issued = catalog
                .create_api_key(NewApiKey {
                    role: Some(Role::Admin),
                    description,
                    ..NewApiKey::default()
                })
                .await?;
            let file = write_credentials(
                config,
                &issued,
                &format!("admin-key-{}.json", issued.key.id),
            )?;
            shown_once("Created a server administrator key", &issued, &file)
        }
        AdminKeyCommand::List => listing(&catalog.api_keys(None, None).await?),
        AdminKeyCommand::Revoke { key } => {
            catalog.revoke_api_key(None, None, &key).await?;
            format!("Revoked the server administrator key {key}.\n")
        }
    };
    Ok(stdout::print(&text)?)
}

fn shown_once(what: &str, issued: &IssuedApiKey, file: &std::path::Path) -> String {
    format!(
        "{what} (shown only this once):\n  client id:     {}\n  client secret: {}\n  \
         also saved to {} (mode 0600)\n",
        issued.key.id,
        issued.secret,
        file.display()
    )
}

fn listing(keys: &[ApiKey]) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let mut text = String::new();
    for key in keys {
        let state = if key.is_active(now) {
            "active"
        } else {
            "revoked or expired"
        };
        let _ = writeln!(text, "{}  {state}  {}", key.id, key.description);
    }
    text
}

/// FRAZIL_BOOTSTRAP_CLIENT_ID/SECRET set on a server whose administrator exists: says so when
/// they would not log in as a server administrator (the id is missing, the secret does not
/// verify, the key is revoked or not a server key). Never logs the secret.
async fn warn_if_variables_are_stale(config: &Config, catalog: &Catalog) {
    let (Some(id), Some(secret)) = (&config.bootstrap_client_id, &config.bootstrap_client_secret)
    else {
        return;
    };
    let problem = match catalog.authenticate_api_key(id, secret).await {
        Ok(key) if key.org_id.is_none() && key.role == Role::Admin => return,
        Ok(_) => "is not a server administrator key",
        Err(CatalogError::Unauthorized(_)) => match catalog.api_key(id).await {
            Ok(None) => "names no key in this store",
            Ok(Some(_)) => "does not verify: its secret differs, or the key was revoked",
            Err(e) => return tracing::warn!(error = %e, "cannot check FRAZIL_BOOTSTRAP_CLIENT_ID"),
        },
        Err(e) => return tracing::warn!(error = %e, "cannot check FRAZIL_BOOTSTRAP_CLIENT_ID"),
    };
    tracing::warn!(
        "FRAZIL_BOOTSTRAP_CLIENT_ID {id} {problem}. FRAZIL_BOOTSTRAP_CLIENT_ID and \
         FRAZIL_BOOTSTRAP_CLIENT_SECRET are ignored: they create the administrator only on a \
         server that has none. Log in with the administrator key you have, or issue a new one \
         with `{NEW_KEY_COMMAND}`."
    );
}

/// Writes a credential into the data directory, readable by its owner only.
fn write_credentials(
    config: &Config,
    issued: &IssuedApiKey,
    name: &str,
) -> anyhow::Result<PathBuf> {
    let dir = config.data_dir_absolute()?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let body = serde_json::json!({"client_id": issued.key.id, "client_secret": issued.secret, "role": "admin"});
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(file, "{}", serde_json::to_string_pretty(&body)?)?;
    Ok(path)
}
