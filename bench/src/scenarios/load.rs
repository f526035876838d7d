//! `load-table`: hot loads of one table, with small and large metadata, `snapshots=all` and
//! `refs`, with and without `If-None-Match`. The tables are built with batched append commits;
//! at about 20 evenly spaced sizes of the large ones, probes of ordinary single-snapshot append
//! commits measure how commit latency grows with the metadata size.

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use reqwest::header::{HeaderValue, ETAG};
use reqwest::Method;

use super::{catalog_get, Ctx};
use crate::client::{self, Catalog, TableHandle};
use crate::results::{Growth, GrowthProbe};
use crate::runner::{Outcome, Worker};

struct LoadWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    path: String,
    snapshots: &'static str,
    if_none_match: Option<HeaderValue>,
}

impl Worker for LoadWorker {
    async fn call(&mut self) -> Outcome {
        match &self.if_none_match {
            None => {
                catalog_get(
                    &self.catalog,
                    &self.client,
                    "load",
                    &self.path,
                    &[("snapshots", self.snapshots)],
                    &[],
                    200,
                )
                .await
            }
            Some(tag) => {
                catalog_get(
                    &self.catalog,
                    &self.client,
                    "load",
                    &self.path,
                    &[("snapshots", self.snapshots)],
                    &[("if-none-match", tag.clone())],
                    304,
                )
                .await
            }
        }
    }
}

/// Most snapshots one build commit adds: two updates each, at most 400 updates a commit (the
/// server caps a commit at 1,000).
pub const MAX_BUILD_BATCH: usize = 200;
/// Build commits the automatic batch aims at.
const AUTO_BUILD_COMMITS: usize = 150;
/// Probes over a build, evenly spaced, the last at the end.
const PROBES: usize = 20;
/// Single-snapshot append commits per probe; the probe's latency is their median.
const PROBE_COMMITS: usize = 5;

/// Snapshots per build commit: `requested`, or (0) enough for about AUTO_BUILD_COMMITS commits.
fn build_batch(snapshots: usize, requested: usize) -> usize {
    let batch = if requested > 0 {
        requested
    } else {
        snapshots.div_ceil(AUTO_BUILD_COMMITS)
    };
    batch.clamp(1, MAX_BUILD_BATCH)
}

/// One step of a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// One commit adding this many snapshots.
    Build(usize),
    /// PROBE_COMMITS timed single-snapshot commits.
    Probe,
}

/// `count` snapshots in commits of at most `batch`, evenly sized.
fn fill(steps: &mut Vec<Step>, count: usize, batch: usize) {
    let commits = count.div_ceil(batch.max(1));
    for i in 0..commits {
        steps.push(Step::Build(
            count / commits + usize::from(i < count % commits),
        ));
    }
}

/// The steps that build a table of `snapshots` snapshots: PROBES probes (fewer when the table
/// has fewer than PROBE_COMMITS snapshots a probe), the k-th of p ending at snapshots * k / p,
/// and before each the build commits up to its start. Build and probe commits together add
/// exactly `snapshots`.
fn plan(snapshots: usize, batch: usize) -> Vec<Step> {
    let probes = PROBES.min(snapshots / PROBE_COMMITS);
    let mut steps = Vec::new();
    let mut built = 0;
    for k in 1..=probes {
        let end = snapshots * k / probes;
        fill(&mut steps, end - PROBE_COMMITS - built, batch);
        steps.push(Step::Probe);
        built = end;
    }
    fill(&mut steps, snapshots - built, batch);
    steps
}

/// A built table: the probes, the build commits between them, the final metadata size.
struct Built {
    probes: Vec<GrowthProbe>,
    build_commits: usize,
    metadata_bytes: usize,
}

/// One commit of `count` appends: (metadata bytes after it, latency in ms).
async fn commit(
    catalog: &Catalog,
    client: &reqwest::Client,
    table: &mut TableHandle,
    count: usize,
) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    match catalog.append_batch(client, table, count).await {
        Ok(appended) => Ok((
            appended.response_bytes,
            started.elapsed().as_secs_f64() * 1000.0,
        )),
        Err(e) => bail!(
            "commit of {count} snapshot(s) after {} to {}.{}: {e}",
            table.snapshots,
            table.ns,
            table.name
        ),
    }
}

/// Appends `snapshots` snapshots following `plan`; returns the probes.
async fn build(
    catalog: &Catalog,
    client: &reqwest::Client,
    table: &mut TableHandle,
    snapshots: usize,
    batch: usize,
) -> anyhow::Result<Built> {
    let mut built = Built {
        probes: Vec::with_capacity(PROBES),
        build_commits: 0,
        metadata_bytes: 0,
    };
    let mut last_report = Instant::now();
    for step in plan(snapshots, batch) {
        match step {
            Step::Build(count) => {
                built.metadata_bytes = commit(catalog, client, table, count).await?.0;
                built.build_commits += 1;
            }
            Step::Probe => {
                let mut ms = Vec::with_capacity(PROBE_COMMITS);
                for _ in 0..PROBE_COMMITS {
                    let (bytes, latency) = commit(catalog, client, table, 1).await?;
                    built.metadata_bytes = bytes;
                    ms.push(latency);
                }
                built.probes.push(GrowthProbe {
                    snapshots: table.snapshots,
                    metadata_bytes: built.metadata_bytes as u64,
                    median_ms: median(&mut ms),
                });
            }
        }
        if last_report.elapsed().as_secs() >= 15 {
            last_report = Instant::now();
            eprintln!(
                "    {}.{}: {}/{snapshots} snapshots, metadata {:.2} MiB, last probe {:.1} ms",
                table.ns,
                table.name,
                table.snapshots,
                built.metadata_bytes as f64 / 1048576.0,
                built.probes.last().map_or(0.0, |p| p.median_ms)
            );
        }
    }
    Ok(built)
}

/// Least squares y = a + b x: (a, b, r2).
pub fn fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    if points.len() < 2 {
        return (0.0, 0.0, 0.0);
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return (my, 0.0, 0.0);
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        (sxy * sxy) / (sxx * syy)
    };
    (a, b, r2)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The growth figures of a build, from its probes.
fn growth(name: &str, built: &Built, snapshots: usize, batch: usize, build_s: f64) -> Growth {
    let probes = &built.probes;
    let by_size: Vec<(f64, f64)> = probes
        .iter()
        .map(|p| (p.metadata_bytes as f64 / 1048576.0, p.median_ms))
        .collect();
    let (intercept, slope, r2) = fit(&by_size);
    let by_count: Vec<(f64, f64)> = probes
        .iter()
        .map(|p| (p.snapshots as f64 / 1000.0, p.median_ms))
        .collect();
    let (_, slope_count, _) = fit(&by_count);
    // Exponent from the upper half of the probes (each a median, robust to noise).
    let upper: Vec<(f64, f64)> = probes[probes.len() / 2..]
        .iter()
        .filter(|p| p.metadata_bytes > 0 && p.median_ms > 0.0)
        .map(|p| ((p.metadata_bytes as f64).ln(), p.median_ms.ln()))
        .collect();
    let (_, exponent, _) = fit(&upper);
    Growth {
        table: name.to_string(),
        snapshots,
        build_commits: built.build_commits,
        build_batch: batch,
        probe_commits: PROBE_COMMITS,
        slope_ms_per_mib: slope,
        intercept_ms: intercept,
        r2,
        slope_ms_per_1000_snapshots: slope_count,
        exponent,
        final_metadata_bytes: built.metadata_bytes as u64,
        build_s,
        probes: probes.clone(),
        buckets: Vec::new(),
    }
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let catalog = ctx.catalog.clone();
    let client = client::http_client()?;
    let ns = ctx.ns("load");
    catalog.create_namespace(&client, &ns).await?;

    let mut tables = vec![("small".to_string(), ctx.opts.small_snapshots)];
    for n in &ctx.opts.large_snapshots {
        tables.push((format!("large-{n}"), *n));
    }
    let mut paths = Vec::new();
    for (label, snapshots) in &tables {
        let name = label.replace('-', "_");
        let mut table = catalog.create_table(&client, &ns, &name).await?;
        let batch = build_batch(*snapshots, ctx.opts.build_batch);
        eprintln!(
            "  load-table: building {ns}.{name} with {snapshots} snapshots (commits of up to {batch}; {} probes of {PROBE_COMMITS} single-snapshot commits)",
            PROBES.min(snapshots / PROBE_COMMITS)
        );
        let started = Instant::now();
        let built = build(&catalog, &client, &mut table, *snapshots, batch).await?;
        let build_s = started.elapsed().as_secs_f64();
        let lineage = catalog.snapshot_lineage(&client, &ns, &name).await?;
        if lineage.snapshots != *snapshots || lineage.ancestry.len() != *snapshots {
            bail!(
                "{ns}.{name} has {} snapshots, {} of them in main's ancestry, after a build of {snapshots}",
                lineage.snapshots,
                lineage.ancestry.len()
            );
        }
        if *snapshots >= 20 {
            let g = growth(label, &built, *snapshots, batch, build_s);
            eprintln!(
                "    built in {:.1} s ({} build commits + {} probe commits): {} snapshots ({} in the snapshot log), metadata {:.2} MiB; probe commit latency {:.2} ms + {:.2} ms/MiB (r2 {:.2}), {:.2} ms per 1,000 snapshots, exponent {:.2}",
                build_s,
                g.build_commits,
                g.probes.len() * PROBE_COMMITS,
                lineage.snapshots,
                lineage.snapshot_log.len(),
                g.final_metadata_bytes as f64 / 1048576.0,
                g.intercept_ms,
                g.slope_ms_per_mib,
                g.r2,
                g.slope_ms_per_1000_snapshots,
                g.exponent
            );
            ctx.growth.push(g);
        }
        paths.push((label.clone(), table.path(), built.metadata_bytes));
    }

    for (label, path, bytes) in &paths {
        for snapshots in ["all", "refs"] {
            // The ETag of this response shape, for the If-None-Match variants.
            let response = catalog
                .send(
                    &client,
                    Method::GET,
                    path,
                    &[("snapshots", snapshots)],
                    None,
                    &[],
                )
                .await?;
            if !response.status.is_success() {
                bail!("load {path}: {}", response.describe());
            }
            let response_bytes = response.body.len();
            let etag = response.headers.get(ETAG).cloned();
            for inm in [false, true] {
                let variant = if inm {
                    format!("{label}/{snapshots}/if-none-match")
                } else {
                    format!("{label}/{snapshots}")
                };
                let tag = match (inm, &etag) {
                    (false, _) => None,
                    (true, Some(tag)) => Some(tag.clone()),
                    (true, None) => {
                        ctx.skip("load-table", &variant, "the target sends no ETag");
                        continue;
                    }
                };
                let sweep = label == "small" && snapshots == "all" && !inm;
                let levels = if sweep {
                    ctx.opts.connections.clone()
                } else {
                    vec![ctx.opts.headline]
                };
                for c in levels {
                    let before = ctx.points.len();
                    ctx.measure("load-table", &variant, || {
                        (0..c)
                            .map(|_| {
                                Ok(LoadWorker {
                                    catalog: catalog.clone(),
                                    client: client::http_client()?,
                                    path: path.clone(),
                                    snapshots,
                                    if_none_match: tag.clone(),
                                })
                            })
                            .collect()
                    })
                    .await?;
                    for point in &mut ctx.points[before..] {
                        point.extra.insert("metadata_bytes".into(), (*bytes).into());
                        point
                            .extra
                            .insert("response_bytes".into(), response_bytes.into());
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 + 3.0 * i as f64)).collect();
        let (a, b, r2) = fit(&points);
        assert!((a - 2.0).abs() < 1e-9 && (b - 3.0).abs() < 1e-9 && (r2 - 1.0).abs() < 1e-9);
    }

    /// 20 probes of a 10,000-snapshot table (1,000 bytes a snapshot), latency `f(snapshots)`.
    fn built(f: fn(f64) -> f64) -> Built {
        let probes = (1..=PROBES)
            .map(|k| {
                let snapshots = 10_000 * k / PROBES;
                GrowthProbe {
                    snapshots,
                    metadata_bytes: snapshots as u64 * 1000,
                    median_ms: f(snapshots as f64),
                }
            })
            .collect();
        Built {
            probes,
            build_commits: 160,
            metadata_bytes: 10_000_000,
        }
    }

    #[test]
    fn growth_fits_the_probes_and_tells_linear_from_quadratic() {
        let linear = growth("t", &built(|x| 2.0 + 0.001 * x), 10_000, 67, 1.0);
        // 0.001 ms a snapshot, 1,000 bytes a snapshot: 1.048576 ms per MiB.
        assert!((linear.intercept_ms - 2.0).abs() < 1e-6, "{linear:?}");
        assert!((linear.slope_ms_per_mib - 1.048576).abs() < 1e-6);
        assert!((linear.slope_ms_per_1000_snapshots - 1.0).abs() < 1e-6);
        assert!((linear.r2 - 1.0).abs() < 1e-9);
        assert_eq!(linear.probes.len(), PROBES);
        assert_eq!(linear.probe_commits, PROBE_COMMITS);
        assert_eq!(
            (
                linear.build_commits,
                linear.build_batch,
                linear.final_metadata_bytes
            ),
            (160, 67, 10_000_000)
        );

        let proportional = growth("t", &built(|x| 0.01 * x), 10_000, 67, 1.0);
        let quadratic = growth("t", &built(|x| 0.0001 * x * x), 10_000, 67, 1.0);
        assert!(
            (proportional.exponent - 1.0).abs() < 0.01,
            "{}",
            proportional.exponent
        );
        assert!(
            (quadratic.exponent - 2.0).abs() < 0.01,
            "{}",
            quadratic.exponent
        );
        // A fixed cost flattens the exponent below 1, never above.
        assert!(linear.exponent < 1.0 && linear.exponent > 0.5);
    }

    #[test]
    fn automatic_batch_builds_in_about_150_commits() {
        assert_eq!(build_batch(10_000, 0), 67);
        assert_eq!(build_batch(3_000, 0), 20);
        assert_eq!(build_batch(10, 0), 1);
        assert_eq!(build_batch(1_000_000, 0), MAX_BUILD_BATCH);
        assert_eq!(build_batch(10_000, 1), 1);
        assert_eq!(build_batch(10_000, 500), MAX_BUILD_BATCH);
    }

    #[test]
    fn plan_adds_exactly_the_snapshots_with_evenly_spaced_probes() {
        for snapshots in [
            0, 3, 4, 5, 10, 20, 37, 99, 400, 1_000, 3_000, 10_000, 12_345,
        ] {
            for batch in [1, 3, build_batch(snapshots, 0), MAX_BUILD_BATCH] {
                let steps = plan(snapshots, batch);
                let probes = PROBES.min(snapshots / PROBE_COMMITS);
                let mut total = 0;
                let mut ends = Vec::new();
                for step in &steps {
                    match *step {
                        Step::Build(count) => {
                            assert!((1..=batch).contains(&count), "{snapshots}/{batch}: {count}");
                            total += count;
                        }
                        Step::Probe => {
                            total += PROBE_COMMITS;
                            ends.push(total);
                        }
                    }
                }
                assert_eq!(total, snapshots, "{snapshots}/{batch}");
                let expected: Vec<usize> = (1..=probes).map(|k| snapshots * k / probes).collect();
                assert_eq!(ends, expected, "{snapshots}/{batch}");
                if snapshots >= PROBE_COMMITS {
                    assert_eq!(steps.last(), Some(&Step::Probe));
                }
            }
        }
        // Batch 1: one snapshot per commit, as before the batching.
        assert!(plan(400, 1)
            .iter()
            .all(|s| matches!(s, Step::Build(1) | Step::Probe)));
        // The automatic batch: 100-200 build commits for the large tables, at most 400 updates.
        for snapshots in [1_000, 3_000, 10_000, 30_000] {
            let batch = build_batch(snapshots, 0);
            let builds = plan(snapshots, batch)
                .iter()
                .filter(|s| matches!(s, Step::Build(_)))
                .count();
            assert!((100..=200).contains(&builds), "{snapshots}: {builds}");
            assert!(2 * batch <= 400);
        }
    }
}
