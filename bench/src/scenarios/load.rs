//! `load-table`: hot loads of one table, with small and large metadata, `snapshots=all` and
//! `refs`, with and without `If-None-Match`. Building the large tables one commit at a time also
//! measures how commit latency grows with the metadata size.

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use reqwest::header::{HeaderValue, ETAG};
use reqwest::Method;

use super::{catalog_get, Ctx};
use crate::client::{self, Catalog, TableHandle};
use crate::results::Growth;
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

/// One sample of the table build: metadata size after the commit, snapshots, latency.
struct BuildSample {
    bytes: usize,
    snapshots: usize,
    ms: f64,
}

/// Appends `snapshots` snapshots one commit at a time; returns the samples.
async fn build(
    catalog: &Catalog,
    client: &reqwest::Client,
    table: &mut TableHandle,
    snapshots: usize,
) -> anyhow::Result<Vec<BuildSample>> {
    let mut samples = Vec::with_capacity(snapshots);
    let mut last_report = Instant::now();
    for i in 0..snapshots {
        let started = Instant::now();
        let appended = match catalog.append(client, table).await {
            Ok(a) => a,
            Err(e) => bail!("commit {} to {}.{}: {e}", i + 1, table.ns, table.name),
        };
        samples.push(BuildSample {
            bytes: appended.response_bytes,
            snapshots: i + 1,
            ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        if last_report.elapsed().as_secs() >= 15 {
            last_report = Instant::now();
            eprintln!(
                "    {}.{}: {}/{snapshots} snapshots, metadata {:.2} MiB, last commit {:.1} ms",
                table.ns,
                table.name,
                i + 1,
                appended.response_bytes as f64 / 1048576.0,
                samples.last().map_or(0.0, |s| s.ms)
            );
        }
    }
    Ok(samples)
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

fn growth(name: &str, samples: &[BuildSample], build_s: f64) -> Growth {
    let by_size: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.bytes as f64 / 1048576.0, s.ms))
        .collect();
    let (intercept, slope, r2) = fit(&by_size);
    let by_count: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.snapshots as f64 / 1000.0, s.ms))
        .collect();
    let (_, slope_count, _) = fit(&by_count);
    // Exponent from the upper half, on bucket medians (robust to noise).
    let bucket_count = 20.min(samples.len().max(1));
    let per_bucket = samples.len().div_ceil(bucket_count).max(1);
    let buckets: Vec<(u64, f64)> = samples
        .chunks(per_bucket)
        .map(|chunk| {
            let mut ms: Vec<f64> = chunk.iter().map(|s| s.ms).collect();
            let mut bytes: Vec<f64> = chunk.iter().map(|s| s.bytes as f64).collect();
            (median(&mut bytes) as u64, median(&mut ms))
        })
        .collect();
    let upper: Vec<(f64, f64)> = buckets[buckets.len() / 2..]
        .iter()
        .filter(|(b, ms)| *b > 0 && *ms > 0.0)
        .map(|(b, ms)| ((*b as f64).ln(), ms.ln()))
        .collect();
    let (_, exponent, _) = fit(&upper);
    Growth {
        table: name.to_string(),
        snapshots: samples.last().map_or(0, |s| s.snapshots),
        commits: samples.len(),
        slope_ms_per_mib: slope,
        intercept_ms: intercept,
        r2,
        slope_ms_per_1000_snapshots: slope_count,
        exponent,
        final_metadata_bytes: samples.last().map_or(0, |s| s.bytes as u64),
        build_s,
        buckets,
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
        eprintln!(
            "  load-table: building {ns}.{name} with {snapshots} snapshots (one commit each)"
        );
        let started = Instant::now();
        let samples = build(&catalog, &client, &mut table, *snapshots).await?;
        let build_s = started.elapsed().as_secs_f64();
        if *snapshots >= 20 {
            let g = growth(label, &samples, build_s);
            eprintln!(
                "    built in {:.1} s: metadata {:.2} MiB; commit latency {:.2} ms + {:.2} ms/MiB (r2 {:.2}), {:.2} ms per 1,000 snapshots, exponent {:.2}",
                build_s,
                g.final_metadata_bytes as f64 / 1048576.0,
                g.intercept_ms,
                g.slope_ms_per_mib,
                g.r2,
                g.slope_ms_per_1000_snapshots,
                g.exponent
            );
            ctx.growth.push(g);
        }
        paths.push((
            label.clone(),
            table.path(),
            samples.last().map_or(0, |s| s.bytes),
        ));
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

    #[test]
    fn growth_exponent_tells_linear_from_quadratic() {
        let make = |f: fn(f64) -> f64| -> Vec<BuildSample> {
            (1..=400)
                .map(|i| BuildSample {
                    bytes: i * 1000,
                    snapshots: i,
                    ms: f(i as f64),
                })
                .collect()
        };
        let linear = growth("t", &make(|x| 0.01 * x), 1.0);
        let quadratic = growth("t", &make(|x| 0.0001 * x * x), 1.0);
        assert!((linear.exponent - 1.0).abs() < 0.1, "{}", linear.exponent);
        assert!(
            (quadratic.exponent - 2.0).abs() < 0.1,
            "{}",
            quadratic.exponent
        );
        assert_eq!(linear.buckets.len(), 20);
    }
}
