//! `load-vended`: what vended storage credentials (`X-Iceberg-Access-Delegation:
//! vended-credentials`) add to loadTable, beside the plain load of the same tables in the same
//! run. A catalog vends only where its storage is set up for it (Frazil: S3 storage with a
//! provider integration; `scripts/bench-vended.sh` sets that up on moto), so the scenario skips
//! itself when the first answer carries no `storage-credentials`.
//!
//! Four points at the headline connection count:
//! - `plain`: one table, no header (the baseline);
//! - `vended-hit`: the same table with the header, its credentials already cached;
//! - `plain-distinct`: loads spread over `--vended-tables` tables, no header;
//! - `vended-miss`: each of those tables loaded once with the header, so that every answer needs
//!   fresh credentials (one STS AssumeRole each).
//!
//! All tables are loaded once without the header first, so that the answers themselves are
//! cached and the difference between the points is the credentials alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use reqwest::header::HeaderValue;
use reqwest::Method;

use super::{catalog_get, parallel, Ctx};
use crate::client::{self, Catalog};
use crate::runner::{self, LoadSpec, Outcome, Worker};

const SCENARIO: &str = "load-vended";
const DELEGATION: &str = "x-iceberg-access-delegation";

/// Loads of tables chosen in turn from a shared counter: table `i % tables` for the i-th load.
struct LoadWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    paths: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    vended: bool,
}

impl Worker for LoadWorker {
    async fn call(&mut self) -> Outcome {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.paths.len();
        let headers = if self.vended {
            vec![(DELEGATION, HeaderValue::from_static("vended-credentials"))]
        } else {
            Vec::new()
        };
        catalog_get(
            &self.catalog,
            &self.client,
            "load",
            &self.paths[i],
            &[("snapshots", "all")],
            &headers,
            200,
        )
        .await
    }
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let ns = ctx.ns("vended");
    let setup = client::http_client()?;
    ctx.catalog.create_namespace(&setup, &ns).await?;
    // The first table tells whether the catalog vends here at all, before the others are made.
    let first = create_and_load(ctx.catalog.clone(), setup.clone(), ns.clone(), 0).await?;
    let vended = HeaderValue::from_static("vended-credentials");
    if !expect_load(&ctx.catalog, &setup, &first, Some(vended)).await? {
        ctx.skip(
            SCENARIO,
            "",
            "the catalog vends no credentials for these tables (no provider integration)",
        );
        return Ok(());
    }
    let count = ctx.opts.vended_tables.max(2);
    let catalog = ctx.catalog.clone();
    let mut paths = vec![first.clone()];
    paths.extend(
        parallel(count - 1, ctx.opts.setup_connections, |i| {
            create_and_load(catalog.clone(), setup.clone(), ns.clone(), i + 1)
        })
        .await?,
    );
    let first = Arc::new(vec![first]);
    let all = Arc::new(paths);
    let connections = ctx.opts.headline;
    measure(ctx, "plain", &first, connections, false, None).await?;
    measure(ctx, "vended-hit", &first, connections, true, None).await?;
    measure(ctx, "plain-distinct", &all, connections, false, None).await?;
    // Every table but the first (cached by the probe above) once: each load is a miss.
    let misses = LoadSpec {
        duration: None,
        requests: Some(count as u64 - 1),
        warmup: std::time::Duration::ZERO,
    };
    measure(ctx, "vended-miss", &all, connections, true, Some(misses)).await
}

/// Creates table `t{i}` and loads it once without the header (its answer is then cached).
async fn create_and_load(
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    ns: String,
    i: usize,
) -> anyhow::Result<String> {
    let path = catalog
        .create_table(&client, &ns, &format!("t{i}"))
        .await?
        .path();
    expect_load(&catalog, &client, &path, None).await?;
    Ok(path)
}

/// One point: `connections` workers loading `paths` in turn, for `spec` or the run's load shape.
async fn measure(
    ctx: &mut Ctx,
    variant: &str,
    paths: &Arc<Vec<String>>,
    connections: usize,
    vended: bool,
    spec: Option<LoadSpec>,
) -> anyhow::Result<()> {
    // Workers share one counter, so that together they walk the tables in turn (the misses
    // start at the second table: the first was loaded with the header by the probe).
    let next = Arc::new(AtomicUsize::new(usize::from(spec.is_some())));
    let workers = (0..connections)
        .map(|_| {
            Ok(LoadWorker {
                catalog: ctx.catalog.clone(),
                client: client::http_client()?,
                paths: paths.clone(),
                next: next.clone(),
                vended,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = spec.unwrap_or_else(|| ctx.spec.clone());
    let (mut point, _) = runner::run(SCENARIO, variant, &spec, workers, ctx.monitor.as_ref()).await;
    point
        .extra
        .insert("tables".into(), serde_json::json!(paths.len()));
    ctx.record(point);
    Ok(())
}

/// Loads `path` (with `delegation` as the header if given) and says whether the answer carries
/// `storage-credentials`.
async fn expect_load(
    catalog: &Catalog,
    client: &reqwest::Client,
    path: &str,
    delegation: Option<HeaderValue>,
) -> anyhow::Result<bool> {
    let headers: Vec<(&'static str, HeaderValue)> =
        delegation.into_iter().map(|v| (DELEGATION, v)).collect();
    let response = catalog
        .send(client, Method::GET, path, &[], None, &headers)
        .await?;
    if response.status.as_u16() != 200 {
        bail!("load {path}: {}", response.describe());
    }
    let body: serde_json::Value =
        serde_json::from_slice(&response.body).context("loadTable answer is not JSON")?;
    Ok(body
        .get("storage-credentials")
        .and_then(|c| c.as_array())
        .is_some_and(|c| !c.is_empty()))
}
