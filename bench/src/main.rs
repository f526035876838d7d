//! `frazil-bench`: load generator and benchmark scenarios for any Iceberg REST catalog, and the
//! renderer of docs/BENCHMARKS.md.
//!
//! `frazil-bench run` measures a catalog given by URL (or a Frazil it starts itself) and writes
//! JSON; `frazil-bench report` turns one or more such files into Markdown and a PNG plot.

mod client;
mod plot;
mod process;
mod report;
mod results;
mod runner;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::client::{Auth, AuthMode, Catalog, Credentials};
use crate::process::{Frazil, ProcMonitor, Store};
use crate::results::{ProcessInfo, RunResults, Settings, TargetInfo, FORMAT_VERSION};
use crate::runner::LoadSpec;
use crate::scenarios::{Ctx, Options};

#[derive(Debug, Parser)]
#[command(
    name = "frazil-bench",
    version,
    args_override_self = true,
    about = "Benchmarks any Iceberg REST catalog (or a Frazil it starts) and renders docs/BENCHMARKS.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios against a catalog and write the results as JSON.
    Run(Box<RunArgs>),
    /// Render Markdown (and a PNG plot) from the JSON of one or more runs.
    Report(report::ReportArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Catalog URI (clients call {uri}/v1/config). Defaults to the started Frazil's.
    #[arg(long)]
    catalog_uri: Option<String>,
    /// `warehouse` sent to /v1/config.
    #[arg(long)]
    warehouse: Option<String>,
    /// Static bearer token.
    #[arg(
        long,
        env = "FRAZIL_BENCH_TOKEN",
        hide_env_values = true,
        conflicts_with = "client_id"
    )]
    token: Option<String>,
    /// OAuth2 client id (client-credentials grant).
    #[arg(long, env = "FRAZIL_BENCH_CLIENT_ID")]
    client_id: Option<String>,
    #[arg(long, env = "FRAZIL_BENCH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Token endpoint; default {catalog-uri}/v1/oauth/tokens.
    #[arg(long)]
    token_url: Option<String>,
    /// `scope` of token requests.
    #[arg(long, default_value = "catalog")]
    scope: String,
    /// A trivial route of the same server: the HTTP ceiling. Default {origin}/healthz.
    #[arg(long)]
    ceiling_url: Option<String>,
    /// Database of the primary-key round-trip baseline (postgres://... or sqlite://...; SQLite is
    /// opened read-only). Default: the started Frazil's database.
    #[arg(long)]
    db_url: Option<String>,
    /// Primary-key query of the baseline, with one text parameter.
    #[arg(long)]
    db_query: Option<String>,

    /// Start this `frazil` binary (fresh data directory and database) and measure it.
    #[arg(long, value_name = "PATH")]
    start_frazil: Option<PathBuf>,
    /// Metadata store of the started Frazil.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: Store,
    /// Postgres server for `--store postgres`; a throw-away database is created on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Where the started Frazil keeps its files (default: a new directory under the temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the started Frazil's files and database afterwards.
    #[arg(long)]
    keep: bool,
    /// Restarts on the existing database used to measure the time to ready.
    #[arg(long, default_value_t = 3)]
    restarts: usize,
    /// Sample CPU and memory of this (already running) server process.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Scenarios to run (comma-separated): ceiling, db, token, load-table, list,
    /// commit-distinct, commit-contended, mixed, load-vended, or all.
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "all")]
    scenarios: Vec<String>,
    /// Connection counts to sweep.
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "1,8,32,64")]
    connections: Vec<usize>,
    /// Connection count of the variants that are not swept.
    #[arg(long, default_value_t = 32)]
    headline_connections: usize,
    /// Measured duration of each point (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// Measure this many requests per point instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Unmeasured warm-up before each point.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Repeats of every point (the report shows medians).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Concurrency of fixture creation.
    #[arg(long, default_value_t = 8)]
    setup_connections: usize,

    /// Snapshots of the small load-table table.
    #[arg(long, default_value_t = 10)]
    small_snapshots: usize,
    /// Snapshots of the large load-table tables (built with batched commits, see --build-batch;
    /// single-snapshot probe commits at about 20 sizes measure how commit latency grows).
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "1000,10000")]
    large_snapshots: Vec<usize>,
    /// Snapshots per build commit of the load-table tables, at most 200 (400 updates); 1 builds
    /// one snapshot per commit. 0: automatic, ceil(snapshots / 150).
    #[arg(long, default_value_t = 0)]
    build_batch: usize,
    /// Tables of commit-distinct (at least one per connection).
    #[arg(long, default_value_t = 64)]
    commit_tables: usize,
    /// Writer counts of commit-contended (1 gives the serial rate).
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "1,16")]
    contended_writers: Vec<usize>,
    /// Namespaces of the list fixture.
    #[arg(long, default_value_t = 1000)]
    list_namespaces: usize,
    /// Tables in the list fixture's one wide namespace.
    #[arg(long, default_value_t = 10000)]
    list_tables: usize,
    #[arg(long, default_value_t = 1000)]
    list_page_size: usize,
    /// Connection counts of the list scenario.
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "1")]
    list_connections: Vec<usize>,
    /// Tables of the mixed scenario (at least one per connection).
    #[arg(long, default_value_t = 64)]
    mixed_tables: usize,
    /// Weights of load, list and commit in the mixed scenario.
    #[arg(long, action = clap::ArgAction::Set, value_delimiter = ',', default_value = "90,8,2")]
    mixed_weights: Vec<u32>,
    /// Tables of the load-vended scenario: its misses load each once.
    #[arg(long, default_value_t = 500)]
    vended_tables: usize,

    /// Name of this run in the report (default: the store, or "target").
    #[arg(long)]
    label: Option<String>,
    /// Git revision measured, recorded in the results.
    #[arg(long)]
    git_rev: Option<String>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "frazil-bench-results.json")]
    output: PathBuf,
    /// Exit non-zero if any request failed (the smoke run's mode).
    #[arg(long)]
    fail_on_errors: bool,
}

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (use e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit in {text:?} (ms, s or m)")),
    };
    if !(seconds >= 0.0 && seconds.is_finite()) {
        return Err(format!("not a duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Report(args) => report::render(&args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("frazil-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: RunArgs) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// The command line, with secrets masked, quoted for a shell.
fn command_line() -> String {
    let mut out = Vec::new();
    let mut mask_next = false;
    for arg in std::env::args() {
        let shown = if mask_next {
            mask_next = false;
            "***".to_string()
        } else if let Some((flag, _)) = arg
            .split_once('=')
            .filter(|(f, _)| *f == "--client-secret" || *f == "--token")
        {
            format!("{flag}=***")
        } else {
            mask_next = arg == "--client-secret" || arg == "--token";
            arg
        };
        let safe = shown
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+*".contains(c));
        out.push(if safe {
            shown
        } else {
            format!("'{}'", shown.replace('\'', r"'\''"))
        });
    }
    out.join(" ")
}

fn selected_scenarios(requested: &[String]) -> anyhow::Result<Vec<&'static str>> {
    if requested.iter().any(|s| s == "all") {
        return Ok(scenarios::ALL.to_vec());
    }
    let mut out = Vec::new();
    for name in requested {
        match scenarios::ALL.iter().find(|s| **s == name.as_str()) {
            Some(s) => out.push(*s),
            None => bail!(
                "unknown scenario {name:?}; choose from {}",
                scenarios::ALL.join(", ")
            ),
        }
    }
    // Always in the canonical order.
    out.sort_by_key(|s| scenarios::ALL.iter().position(|a| a == s));
    Ok(out)
}

fn origin_of(uri: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(uri).with_context(|| format!("not a URL: {uri}"))?;
    Ok(parsed.origin().ascii_serialization())
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let selected = selected_scenarios(&args.scenarios)?;
    if args.connections.is_empty() || args.connections.contains(&0) {
        bail!("--connections needs positive counts");
    }
    if args.build_batch > scenarios::load::MAX_BUILD_BATCH {
        bail!(
            "--build-batch is at most {} (two updates a snapshot, at most 400 a commit)",
            scenarios::load::MAX_BUILD_BATCH
        );
    }
    let mixed_weights: [u32; 3] =
        args.mixed_weights.clone().try_into().map_err(|_| {
            anyhow::anyhow!("--mixed-weights takes three numbers: load,list,commit")
        })?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut machine = process::machine();
    eprintln!(
        "frazil-bench run {run_id}: {} CPUs ({}), {} MiB",
        machine.nproc, machine.cpu_model, machine.mem_total_mib
    );

    // The server: started here, or given by URL.
    let mut frazil = None;
    let mut process_info = None;
    if let Some(binary) = &args.start_frazil {
        let work_dir = args
            .work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("frazil-bench-{run_id}")));
        let mut f =
            Frazil::prepare(binary, args.store, &work_dir, &args.postgres_url, &run_id).await?;
        eprintln!(
            "starting {} on {} ({})",
            f.binary.display(),
            f.origin(),
            process::redact(&f.database_url)
        );
        let first = f.start().await?;
        f.stop().await?;
        let mut restarts = Vec::new();
        for i in 0..args.restarts.max(1) {
            if i > 0 {
                f.stop().await?;
            }
            restarts.push(f.start().await?.as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = f.monitor().and_then(|m| m.rss_kib());
        eprintln!(
            "frazil ready in {:.1} ms on a fresh database, {:?} ms on the existing one; idle RSS {:.1} MiB",
            first.as_secs_f64() * 1000.0,
            restarts.iter().map(|ms| (ms * 10.0).round() / 10.0).collect::<Vec<_>>(),
            idle.unwrap_or(0) as f64 / 1024.0
        );
        process_info = Some(ProcessInfo {
            binary: f.binary.display().to_string(),
            version: f.version().await,
            store: args.store.name().into(),
            first_start_ready_ms: first.as_secs_f64() * 1000.0,
            restart_ready_ms: restarts,
            idle_rss_kib: idle,
            idle_rss_after_kib: None,
            peak_rss_kib: None,
        });
        frazil = Some(f);
    }
    let outcome = measure(
        &args,
        &selected,
        &run_id,
        frazil.as_ref(),
        mixed_weights,
        &mut machine,
    )
    .await;
    if let (Some(f), Some(info)) = (&frazil, &mut process_info) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let monitor = f.monitor();
        info.idle_rss_after_kib = monitor.and_then(|m| m.rss_kib());
        info.peak_rss_kib = monitor.and_then(|m| m.peak_rss_kib());
    }
    if let Some(f) = &mut frazil {
        if let Err(e) = f.cleanup(args.keep).await {
            eprintln!("cleanup: {e:#}");
        }
    }
    let (ctx, target, scenario_errors) = outcome?;

    let results = RunResults {
        format_version: FORMAT_VERSION,
        label: args.label.clone().unwrap_or_else(|| {
            if args.start_frazil.is_some() {
                args.store.name().to_string()
            } else {
                "target".to_string()
            }
        }),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        command: command_line(),
        git_rev: args.git_rev.clone(),
        machine,
        target,
        settings: Settings {
            connections: args.connections.clone(),
            headline_connections: args.headline_connections,
            duration_s: args
                .requests
                .is_none()
                .then_some(args.duration.as_secs_f64()),
            requests: args.requests,
            warmup_s: args.warmup.as_secs_f64(),
            repeat: args.repeat.max(1),
            client_threads: args.client_threads,
            scenarios: selected.iter().map(|s| s.to_string()).collect(),
            large_snapshots: args.large_snapshots.clone(),
            build_batch: args.build_batch,
            commit_tables: args.commit_tables,
            contended_writers: args.contended_writers.clone(),
            list_namespaces: args.list_namespaces,
            list_tables: args.list_tables,
            list_page_size: args.list_page_size,
            mixed_tables: args.mixed_tables,
            mixed_weights: args.mixed_weights.clone(),
        },
        frazil: process_info,
        points: ctx.points,
        growth: ctx.growth,
        skipped: ctx.skipped,
    };
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.output, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("results written to {}", args.output.display());

    let mut ok = true;
    for failure in ctx.failures.iter().chain(&scenario_errors) {
        eprintln!("FAILED: {failure}");
        ok = false;
    }
    let errors: u64 = results.points.iter().map(|p| p.errors).sum();
    if errors > 0 {
        eprintln!("{errors} requests failed");
        if args.fail_on_errors {
            ok = false;
        }
    }
    Ok(ok)
}

/// Connects to the catalog and runs the scenarios; scenario failures are collected, not fatal.
async fn measure(
    args: &RunArgs,
    selected: &[&'static str],
    run_id: &str,
    frazil: Option<&Frazil>,
    mixed_weights: [u32; 3],
    machine: &mut results::Machine,
) -> anyhow::Result<(Ctx, TargetInfo, Vec<String>)> {
    let uri = match (&args.catalog_uri, frazil) {
        (Some(uri), _) => uri.trim_end_matches('/').to_string(),
        (None, Some(f)) => f.catalog_uri(),
        (None, None) => bail!("give --catalog-uri, or --start-frazil"),
    };
    let origin = origin_of(&uri)?;
    let token_url = args
        .token_url
        .clone()
        .unwrap_or_else(|| format!("{uri}/v1/oauth/tokens"));
    let scope = Some(args.scope.clone()).filter(|s| !s.is_empty());
    let explicit_credentials = match (&args.client_id, &args.client_secret) {
        (Some(id), Some(secret)) => Some(Credentials {
            token_url: token_url.clone(),
            client_id: id.clone(),
            client_secret: secret.clone(),
            scope: scope.clone(),
        }),
        (Some(_), None) | (None, Some(_)) => {
            bail!("--client-id and --client-secret go together")
        }
        _ => None,
    };
    let mode = if let Some(token) = &args.token {
        AuthMode::Bearer(token.clone())
    } else if let Some(credentials) = explicit_credentials.clone() {
        AuthMode::ClientCredentials(credentials)
    } else if let Some(f) = frazil {
        // The started Frazil's bootstrap administrator, if it has a token endpoint.
        let credentials = Credentials {
            token_url: token_url.clone(),
            client_id: f.client_id.clone(),
            client_secret: f.client_secret.clone(),
            scope: scope.clone(),
        };
        match client::request_token(&client::http_client()?, &credentials).await {
            Ok(_) => AuthMode::ClientCredentials(credentials),
            Err(e) => {
                eprintln!("no token from {token_url} ({e:#}): running without authentication");
                AuthMode::None
            }
        }
    } else {
        AuthMode::None
    };
    let token_credentials = match &mode {
        AuthMode::ClientCredentials(c) => Some(c.clone()),
        _ => explicit_credentials,
    };
    let auth_name = mode.name().to_string();
    let catalog = Catalog::connect(&uri, args.warehouse.clone(), Auth::new(mode)?).await?;
    eprintln!(
        "catalog {} (API base {}), auth {auth_name}",
        catalog.uri, catalog.base
    );

    let db_url = args
        .db_url
        .clone()
        .or_else(|| frazil.map(|f| f.database_url.clone()));
    if let Some(url) = &db_url {
        machine.database_version = database_version(url).await;
    }
    let ceiling_url = args
        .ceiling_url
        .clone()
        .unwrap_or_else(|| format!("{origin}/healthz"));
    let monitor = frazil
        .and_then(Frazil::monitor)
        .or(args.server_pid.map(|pid| ProcMonitor { pid }));
    let target = TargetInfo {
        catalog_uri: uri.clone(),
        warehouse: args.warehouse.clone(),
        api_base: catalog.base.clone(),
        auth: auth_name,
        token_url: token_credentials.as_ref().map(|c| c.token_url.clone()),
        ceiling_url: Some(ceiling_url.clone()),
        db_url: db_url.as_deref().map(process::redact),
        db_query: None,
    };
    let mut ctx = Ctx {
        catalog: Arc::new(catalog),
        spec: LoadSpec {
            duration: args.requests.is_none().then_some(args.duration),
            requests: args.requests,
            warmup: args.warmup,
        },
        opts: Options {
            connections: args.connections.clone(),
            headline: args.headline_connections.max(1),
            repeat: args.repeat.max(1),
            small_snapshots: args.small_snapshots,
            large_snapshots: args.large_snapshots.clone(),
            build_batch: args.build_batch,
            commit_tables: args.commit_tables.max(1),
            contended_writers: args.contended_writers.clone(),
            list_namespaces: args.list_namespaces,
            list_tables: args.list_tables,
            list_page_size: args.list_page_size.max(1),
            list_connections: args.list_connections.clone(),
            mixed_tables: args.mixed_tables.max(1),
            mixed_weights,
            vended_tables: args.vended_tables.max(2),
            setup_connections: args.setup_connections.max(1),
            ceiling_url: Some(ceiling_url),
            db_url,
            db_query: args.db_query.clone(),
            token_credentials,
        },
        monitor,
        run_id: run_id.to_string(),
        points: Vec::new(),
        growth: Vec::new(),
        skipped: Vec::new(),
        failures: Vec::new(),
        db_query_used: None,
    };
    let mut errors = Vec::new();
    for scenario in selected {
        eprintln!("{scenario}");
        let result = match *scenario {
            "ceiling" => scenarios::ceiling(&mut ctx).await,
            "db" => scenarios::db(&mut ctx).await,
            "token" => scenarios::token(&mut ctx).await,
            "load-table" => scenarios::load::run(&mut ctx).await,
            "list" => scenarios::list::run(&mut ctx).await,
            "commit-distinct" => scenarios::commit::distinct(&mut ctx).await,
            "commit-contended" => scenarios::commit::contended(&mut ctx).await,
            "mixed" => scenarios::mixed::run(&mut ctx).await,
            "load-vended" => scenarios::vended::run(&mut ctx).await,
            other => Err(anyhow::anyhow!("unknown scenario {other}")),
        };
        if let Err(e) = result {
            eprintln!("  {scenario} failed: {e:#}");
            ctx.skip(scenario, "", format!("failed: {e:#}"));
            errors.push(format!("{scenario}: {e:#}"));
        }
    }
    let mut target = target;
    target.db_query = ctx.db_query_used.clone();
    Ok((ctx, target, errors))
}

/// `SELECT version()` (Postgres) or the SQLite library version.
async fn database_version(url: &str) -> Option<String> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .ok()?;
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        Some(format!("SQLite {version}"))
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let _ = conn.close().await;
        Some(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn scenarios_resolve_in_canonical_order() {
        let picked = selected_scenarios(&["mixed".into(), "ceiling".into()]).unwrap();
        assert_eq!(picked, vec!["ceiling", "mixed"]);
        assert_eq!(selected_scenarios(&["all".into()]).unwrap(), scenarios::ALL);
        assert!(selected_scenarios(&["nope".into()]).is_err());
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let cli = Cli::try_parse_from([
            "frazil-bench",
            "run",
            "--duration",
            "1s",
            "--connections",
            "1,2",
            "--duration",
            "3s",
            "--connections",
            "4",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.duration, Duration::from_secs(3));
        assert_eq!(args.connections, vec![4]);
    }
}
