//! The scenarios, their shared context, and the baselines (HTTP ceiling, database round trip,
//! token endpoint).

pub mod commit;
pub mod list;
pub mod load;
pub mod mixed;
pub mod vended;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use reqwest::Method;

use crate::client::{self, Catalog, Credentials};
use crate::process::ProcMonitor;
use crate::results::{Growth, Point, Skipped};
use crate::runner::{self, LoadSpec, Outcome, Worker};

/// Every scenario, in the order a run executes them.
pub const ALL: &[&str] = &[
    "load-table",
    "ceiling",
    "db",
    "token",
    "list",
    "commit-distinct",
    "commit-contended",
    "mixed",
    "load-vended",
];

/// Sizes and connection counts of the scenarios.
#[derive(Debug, Clone)]
pub struct Options {
    pub connections: Vec<usize>,
    pub headline: usize,
    pub repeat: usize,
    pub small_snapshots: usize,
    pub large_snapshots: Vec<usize>,
    /// Snapshots per build commit of the load-table tables (0 = automatic).
    pub build_batch: usize,
    pub commit_tables: usize,
    pub contended_writers: Vec<usize>,
    pub list_namespaces: usize,
    pub list_tables: usize,
    pub list_page_size: usize,
    pub list_connections: Vec<usize>,
    pub mixed_tables: usize,
    pub mixed_weights: [u32; 3],
    pub vended_tables: usize,
    pub setup_connections: usize,
    pub ceiling_url: Option<String>,
    pub db_url: Option<String>,
    pub db_query: Option<String>,
    pub token_credentials: Option<Credentials>,
}

/// What every scenario shares: the catalog, the load shape, and where results go.
pub struct Ctx {
    pub catalog: Arc<Catalog>,
    pub spec: LoadSpec,
    pub opts: Options,
    pub monitor: Option<ProcMonitor>,
    pub run_id: String,
    pub points: Vec<Point>,
    pub growth: Vec<Growth>,
    pub skipped: Vec<Skipped>,
    /// Correctness failures (lost commits) that fail the run whatever the flags.
    pub failures: Vec<String>,
    /// The database query the db baseline used.
    pub db_query_used: Option<String>,
}

impl Ctx {
    /// A namespace name of this run.
    pub fn ns(&self, what: &str) -> String {
        format!("bench_{}_{what}", self.run_id)
    }

    pub fn record(&mut self, point: Point) {
        let mut line = format!(
            "  {:<16} {:<28} c={:<3} #{}: {:>9.1} req/s  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  max {:>8.2} ms  errors {}",
            point.scenario,
            point.variant,
            point.connections,
            point.repeat + 1,
            point.throughput,
            point.latency.p50,
            point.latency.p90,
            point.latency.p99,
            point.latency.max,
            point.errors
        );
        if let Some(server) = &point.server {
            line.push_str(&format!(
                "  server {:.0}% CPU, RSS {:.1} MiB",
                100.0 * server.cpu_s / point.elapsed_s,
                server.rss_max_kib as f64 / 1024.0
            ));
        }
        for (key, value) in &point.extra {
            line.push_str(&format!("  {key}={value}"));
        }
        eprintln!("{line}");
        for (message, n) in &point.error_samples {
            eprintln!("      {n} x {message}");
        }
        self.points.push(point);
    }

    pub fn skip(&mut self, scenario: &str, variant: &str, reason: impl Into<String>) {
        let reason = reason.into();
        eprintln!("  {scenario:<16} {variant:<28} skipped: {reason}");
        self.skipped.push(Skipped {
            scenario: scenario.into(),
            variant: variant.into(),
            reason,
        });
    }

    /// Runs one point `repeat` times with workers from `make` (called once per repeat).
    pub async fn measure<W, F>(
        &mut self,
        scenario: &str,
        variant: &str,
        mut make: F,
    ) -> anyhow::Result<()>
    where
        W: Worker,
        F: FnMut() -> anyhow::Result<Vec<W>>,
    {
        for repeat in 0..self.opts.repeat {
            let workers = make()?;
            let (mut point, _) = runner::run(
                scenario,
                variant,
                &self.spec,
                workers,
                self.monitor.as_ref(),
            )
            .await;
            point.repeat = repeat;
            self.record(point);
        }
        Ok(())
    }
}

/// `f(0..n)` with at most `concurrency` in flight, results in order.
pub async fn parallel<T, F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(0..n)
        .map(f)
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// GET of a fixed URL that must answer 2xx: the HTTP ceiling.
struct GetWorker {
    client: reqwest::Client,
    url: String,
}

impl Worker for GetWorker {
    async fn call(&mut self) -> Outcome {
        match self.client.get(&self.url).send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status.is_success() => Outcome::ok("get"),
                    Ok(body) => Outcome::err(
                        "get",
                        format!("HTTP {}: {}", status.as_u16(), client::snippet(&body)),
                    ),
                    Err(e) => Outcome::err("get", e.to_string()),
                }
            }
            Err(e) => Outcome::err("get", e.to_string()),
        }
    }
}

/// The HTTP ceiling: a trivial route of the same server (`/healthz` by default).
pub async fn ceiling(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Some(url) = ctx.opts.ceiling_url.clone() else {
        ctx.skip("ceiling", "get", "no --ceiling-url");
        return Ok(());
    };
    let probe = client::http_client()?.get(&url).send().await;
    match probe {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            ctx.skip(
                "ceiling",
                "get",
                format!("{url} answers HTTP {}", r.status()),
            );
            return Ok(());
        }
        Err(e) => {
            ctx.skip("ceiling", "get", format!("{url}: {e}"));
            return Ok(());
        }
    }
    for c in ctx.opts.connections.clone() {
        ctx.measure("ceiling", "healthz", || {
            (0..c)
                .map(|_| {
                    Ok(GetWorker {
                        client: client::http_client()?,
                        url: url.clone(),
                    })
                })
                .collect()
        })
        .await?;
    }
    Ok(())
}

#[derive(Clone)]
enum DbPool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

struct DbWorker {
    pool: DbPool,
    query: Arc<str>,
    key: Arc<str>,
}

impl Worker for DbWorker {
    async fn call(&mut self) -> Outcome {
        let sql = sqlx::AssertSqlSafe(self.query.clone());
        let result = match &self.pool {
            DbPool::Postgres(pool) => sqlx::query(sql)
                .bind(&*self.key)
                .fetch_optional(pool)
                .await
                .map(|row| row.is_some()),
            DbPool::Sqlite(pool) => sqlx::query(sql)
                .bind(&*self.key)
                .fetch_optional(pool)
                .await
                .map(|row| row.is_some()),
        };
        match result {
            Ok(true) => Outcome::ok("pk-read"),
            Ok(false) => Outcome::err("pk-read", "no row"),
            Err(e) => Outcome::err("pk-read", e.to_string()),
        }
    }
}

/// Frazil's own primary-key read where the database is Frazil's (the table row loadTable reads),
/// else a primary-key read of the database's system catalog.
const FRAZIL_PK_QUERY_PG: &str = "SELECT metadata_location FROM catalog_objects WHERE uid = $1";
const FRAZIL_PK_QUERY_SQLITE: &str = "SELECT metadata_location FROM catalog_objects WHERE uid = ?1";
const PG_CATALOG_PK_QUERY: &str = "SELECT relname FROM pg_class WHERE oid = $1::text::oid";
const SQLITE_CATALOG_PK_QUERY: &str =
    "SELECT name FROM sqlite_master WHERE rowid = CAST(?1 AS INTEGER)";

/// The database's own round trip for a primary-key read, with sqlx.
pub async fn db(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Some(url) = ctx.opts.db_url.clone() else {
        ctx.skip("db", "pk-read", "no --db-url");
        return Ok(());
    };
    let max = ctx.opts.connections.iter().copied().max().unwrap_or(1) as u32;
    let pool = if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
            .read_only(true)
            .create_if_missing(false);
        DbPool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(max)
                .connect_with(options)
                .await
                .with_context(|| format!("opening {url}"))?,
        )
    } else {
        DbPool::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(max)
                .connect(&url)
                .await
                .with_context(|| format!("connecting to {}", crate::process::redact(&url)))?,
        )
    };
    let (query, key) = db_query_and_key(&pool, ctx.opts.db_query.clone()).await?;
    ctx.db_query_used = Some(query.clone());
    let query: Arc<str> = query.into();
    let key: Arc<str> = key.into();
    let variant = match pool {
        DbPool::Postgres(_) => "postgres",
        DbPool::Sqlite(_) => "sqlite",
    };
    for c in ctx.opts.connections.clone() {
        ctx.measure("db", variant, || {
            Ok((0..c)
                .map(|_| DbWorker {
                    pool: pool.clone(),
                    query: query.clone(),
                    key: key.clone(),
                })
                .collect())
        })
        .await?;
    }
    match pool {
        DbPool::Postgres(p) => p.close().await,
        DbPool::Sqlite(p) => p.close().await,
    }
    Ok(())
}

/// The query (one text parameter: the key) and a key it finds.
async fn db_query_and_key(
    pool: &DbPool,
    custom: Option<String>,
) -> anyhow::Result<(String, String)> {
    let frazil_key = match pool {
        DbPool::Postgres(p) => {
            sqlx::query_scalar::<_, String>("SELECT uid FROM catalog_objects ORDER BY uid LIMIT 1")
                .fetch_optional(p)
                .await
        }
        DbPool::Sqlite(p) => {
            sqlx::query_scalar::<_, String>("SELECT uid FROM catalog_objects ORDER BY uid LIMIT 1")
                .fetch_optional(p)
                .await
        }
    };
    if let Some(query) = custom {
        let key = frazil_key.ok().flatten().unwrap_or_else(|| "1".into());
        return Ok((query, key));
    }
    if let Ok(Some(key)) = frazil_key {
        let query = match pool {
            DbPool::Postgres(_) => FRAZIL_PK_QUERY_PG,
            DbPool::Sqlite(_) => FRAZIL_PK_QUERY_SQLITE,
        };
        return Ok((query.into(), key));
    }
    Ok(match pool {
        DbPool::Postgres(p) => {
            let oid: String =
                sqlx::query_scalar("SELECT oid::text FROM pg_class WHERE relname = 'pg_class'")
                    .fetch_one(p)
                    .await?;
            (PG_CATALOG_PK_QUERY.into(), oid)
        }
        DbPool::Sqlite(_) => (SQLITE_CATALOG_PK_QUERY.into(), "1".into()),
    })
}

struct TokenWorker {
    client: reqwest::Client,
    credentials: Arc<Credentials>,
}

impl Worker for TokenWorker {
    async fn call(&mut self) -> Outcome {
        match client::post_token_form(&self.client, &self.credentials).await {
            Ok((status, body)) if status.is_success() => {
                match serde_json::from_slice::<client::IssuedToken>(&body) {
                    Ok(_) => Outcome::ok("token"),
                    Err(e) => Outcome::err("token", format!("no access_token: {e}")),
                }
            }
            Ok((status, body)) => Outcome::err(
                "token",
                format!("HTTP {}: {}", status.as_u16(), client::snippet(&body)),
            ),
            Err(e) => Outcome::err("token", format!("{e:#}")),
        }
    }
}

/// Token endpoint throughput (client credentials); skipped when the target has none.
pub async fn token(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Some(credentials) = ctx.opts.token_credentials.clone() else {
        ctx.skip(
            "token",
            "client-credentials",
            "no client credentials (--client-id/--client-secret) for the token endpoint",
        );
        return Ok(());
    };
    let probe = client::post_token_form(&client::http_client()?, &credentials).await;
    match probe {
        Ok((status, _)) if status.is_success() => {}
        Ok((status, body)) => {
            let reason = if matches!(status.as_u16(), 404 | 405) {
                format!(
                    "the target has no token endpoint at {} (HTTP {})",
                    credentials.token_url,
                    status.as_u16()
                )
            } else {
                format!(
                    "{} refused the credentials: HTTP {}: {}",
                    credentials.token_url,
                    status.as_u16(),
                    client::snippet(&body)
                )
            };
            ctx.skip("token", "client-credentials", reason);
            return Ok(());
        }
        Err(e) => {
            ctx.skip(
                "token",
                "client-credentials",
                format!("{}: {e:#}", credentials.token_url),
            );
            return Ok(());
        }
    }
    let credentials = Arc::new(credentials);
    let c = ctx.opts.headline;
    ctx.measure("token", "client-credentials", || {
        (0..c)
            .map(|_| {
                Ok(TokenWorker {
                    client: client::http_client()?,
                    credentials: credentials.clone(),
                })
            })
            .collect()
    })
    .await
}

/// GET below the catalog base expecting `expect`.
pub async fn catalog_get(
    catalog: &Catalog,
    client: &reqwest::Client,
    op: &'static str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&'static str, reqwest::header::HeaderValue)],
    expect: u16,
) -> Outcome {
    match catalog
        .send(client, Method::GET, path, query, None, headers)
        .await
    {
        Ok(response) if response.status.as_u16() == expect => Outcome::ok(op),
        Ok(response) => Outcome::err(op, response.describe()),
        Err(e) => Outcome::err(op, format!("{e:#}")),
    }
}
