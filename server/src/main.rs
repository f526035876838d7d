//! `frazil`: the Iceberg REST catalog server.

mod admin;
mod api_docs;
mod app;
mod auth;
mod body;
mod bootstrap;
mod cli;
mod config;
mod data_dir;
mod error;
mod health;
mod housekeeping;
mod iceberg;
mod idempotency;
mod instance_lock;
mod serve;
mod shutdown;
mod startup;
mod state;
mod stdout;
mod timeout;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::startup::open_catalog;

#[derive(Debug, Parser)]
#[command(
    name = "frazil",
    version,
    about = "Apache Iceberg REST catalog for tables materialized from Kafka topics"
)]
struct Cli {
    /// TOML configuration file; FRAZIL_* environment variables override it.
    #[arg(long, global = true, env = "FRAZIL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the catalog (SQLite and a local warehouse under ./frazil-data unless configured).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the server administrator credential if the server has none, and print it. (To
    /// replace a lost one: `frazil admin-key create`.)
    Bootstrap,
    /// Manage server administrator keys: issue a new one when the credential is lost.
    AdminKey {
        #[command(subcommand)]
        command: bootstrap::AdminKeyCommand,
    },
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        command: cli::ApiKeyCommand,
    },
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: cli::KeysCommand,
    },
    /// Print an OpenAPI document of the server (the Iceberg REST catalog or the admin API).
    Openapi {
        /// Which API.
        #[arg(long, value_enum, default_value_t = Api::Iceberg)]
        api: Api,
        /// Which format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Write all four documents (iceberg and admin, JSON and YAML) into this directory
        /// instead, e.g. `openapi` to regenerate the checked-in ones.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Api {
    Iceberg,
    Admin,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Yaml,
}

/// `frazil openapi`: needs neither configuration nor database.
fn openapi(api: Api, format: Format, write: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(dir) = write {
        std::fs::create_dir_all(&dir)?;
        for (name, text) in api_docs::files() {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            stdout::print(&format!("wrote {}\n", path.display()))?;
        }
        return Ok(());
    }
    let docs = &*api_docs::DOCUMENTS;
    let text = match (api, format) {
        (Api::Iceberg, Format::Json) => &docs.iceberg_json,
        (Api::Iceberg, Format::Yaml) => &docs.iceberg_yaml,
        (Api::Admin, Format::Json) => &docs.admin_json,
        (Api::Admin, Format::Yaml) => &docs.admin_yaml,
    };
    Ok(stdout::print(text)?)
}

/// Errors end the process with one line on stderr (the cause chain joined by ": "), not
/// anyhow's multi-line report.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi { api, format, write } = cli.command {
        return openapi(api, format, write);
    }
    let loaded = Config::load(cli.config.as_deref())?;
    let config = loaded.config;
    init_logging(&config, matches!(cli.command, Command::Serve));
    for warning in loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve::serve(config).await,
            Command::Migrate => startup::migrate(&config).await,
            Command::Bootstrap => {
                let catalog = open_catalog(&config).await?;
                bootstrap::bootstrap(&config, &catalog, bootstrap::Caller::Command).await
            }
            Command::AdminKey { command } => {
                bootstrap::admin_key(command, &config, &open_catalog(&config).await?).await
            }
            Command::ApiKey { command } => {
                cli::api_key(command, &open_catalog(&config).await?).await
            }
            Command::Keys { command } => cli::keys(command, &open_catalog(&config).await?).await,
            Command::Openapi { .. } => Ok(()),
        }
    })
}

/// Logs go to stderr. `RUST_LOG` wins, then `log_level`; else `serve` logs at info and the
/// other commands at warn, so that their output is not buried in start-up lines.
fn init_logging(config: &Config, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = config.log_level.as_ref().map_or(default, |l| l.as_str());
        tracing_subscriber::EnvFilter::new(level)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
