//! `list`: listNamespaces and listTables pages at scale, the first page and the last (deepest)
//! one, reached with the page tokens the catalog hands out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;
use reqwest::Method;
use serde_json::json;

use super::{catalog_get, parallel, Ctx};
use crate::client::{self, Catalog};
use crate::runner::{Outcome, Worker};

struct ListWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    path: String,
    token: String,
    page_size: String,
}

impl Worker for ListWorker {
    async fn call(&mut self) -> Outcome {
        catalog_get(
            &self.catalog,
            &self.client,
            "list",
            &self.path,
            &[
                ("pageToken", self.token.as_str()),
                ("pageSize", self.page_size.as_str()),
            ],
            &[],
            200,
        )
        .await
    }
}

/// A page to measure: its token ("" for the first), index, and how many entries it holds.
struct PageRef {
    token: String,
    index: usize,
    entries: usize,
}

/// Walks every page; returns the first and the last page and the total number of entries.
async fn walk(
    catalog: &Catalog,
    client: &reqwest::Client,
    path: &str,
    field: &str,
    page_size: usize,
) -> anyhow::Result<(PageRef, PageRef, usize)> {
    let size = page_size.to_string();
    let mut token = String::new();
    let mut first = None;
    let mut index = 0;
    let mut total = 0;
    loop {
        let response = catalog
            .send(
                client,
                Method::GET,
                path,
                &[("pageToken", token.as_str()), ("pageSize", size.as_str())],
                None,
                &[],
            )
            .await?;
        if !response.status.is_success() {
            bail!("GET {path}: {}", response.describe());
        }
        let (entries, next) = client::parse_page(&response.body, field)?;
        total += entries;
        let this = PageRef {
            token: token.clone(),
            index,
            entries,
        };
        if first.is_none() {
            first = Some(PageRef {
                token: String::new(),
                index: 0,
                entries,
            });
        }
        match next {
            Some(next) if entries > 0 => {
                token = next;
                index += 1;
            }
            _ => {
                let first = first.unwrap_or(PageRef {
                    token: String::new(),
                    index: 0,
                    entries: 0,
                });
                return Ok((first, this, total));
            }
        }
    }
}

/// Progress of a fixture's creates: every 10%, the count, the create rate overall and over the
/// last 10%, and the time left at the overall rate.
struct Progress {
    what: &'static str,
    total: usize,
    every: usize,
    started: Instant,
    done: AtomicUsize,
    /// Creates done and the time at the last line printed.
    last: Mutex<(usize, Instant)>,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Self {
        let started = Instant::now();
        Self {
            what,
            total,
            every: (total / 10).max(1),
            started,
            done: AtomicUsize::new(0),
            last: Mutex::new((0, started)),
        }
    }

    /// One create finished.
    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !done.is_multiple_of(self.every) {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if done <= last.0 {
            return;
        }
        let now = Instant::now();
        let rate = done as f64 / now.duration_since(self.started).as_secs_f64();
        let since = done - last.0;
        let recent = since as f64 / now.duration_since(last.1).as_secs_f64();
        *last = (done, now);
        eprintln!(
            "    {done}/{} {}: {rate:.0} creates/s ({recent:.0}/s over the last {since}), {:.0} s to go",
            self.total,
            self.what,
            (self.total - done) as f64 / rate
        );
    }
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let catalog = ctx.catalog.clone();
    let setup = client::http_client()?;
    let n_namespaces = ctx.opts.list_namespaces;
    let n_tables = ctx.opts.list_tables;
    let page_size = ctx.opts.list_page_size;
    let conns = ctx.opts.setup_connections;

    let started = Instant::now();
    let prefix = ctx.ns("ns");
    eprintln!("  list: creating {n_namespaces} namespaces");
    let progress = Progress::new("namespaces", n_namespaces);
    parallel(n_namespaces, conns, |i| {
        let catalog = catalog.clone();
        let setup = setup.clone();
        let name = format!("{prefix}{i:07}");
        let progress = &progress;
        async move {
            let created = catalog.create_namespace(&setup, &name).await?;
            progress.tick();
            Ok(created)
        }
    })
    .await?;
    let wide = ctx.ns("wide");
    catalog.create_namespace(&setup, &wide).await?;
    eprintln!("  list: creating {n_tables} tables in {wide}");
    let progress = Progress::new("tables", n_tables);
    parallel(n_tables, conns, |i| {
        let catalog = catalog.clone();
        let setup = setup.clone();
        let wide = wide.clone();
        let progress = &progress;
        async move {
            catalog
                .create_table(&setup, &wide, &format!("t{i:07}"))
                .await?;
            progress.tick();
            Ok(())
        }
    })
    .await?;
    let setup_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  list: fixture ready in {setup_s:.1} s ({:.0} creates/s)",
        (n_namespaces + n_tables) as f64 / setup_s
    );

    let targets = [
        ("namespaces", "namespaces".to_string(), "namespaces"),
        ("tables", format!("namespaces/{wide}/tables"), "identifiers"),
    ];
    for (what, path, field) in targets {
        let (first, last, total) = walk(&catalog, &setup, &path, field, page_size).await?;
        for (kind, page) in [("first", &first), ("deep", &last)] {
            let variant = format!("{what}/{kind}");
            if kind == "deep" && page.index == 0 {
                ctx.skip(
                    "list",
                    &variant,
                    format!("only one page of {page_size} ({total} {what})"),
                );
                continue;
            }
            for c in ctx.opts.list_connections.clone() {
                let before = ctx.points.len();
                ctx.measure("list", &variant, || {
                    (0..c)
                        .map(|_| {
                            Ok(ListWorker {
                                catalog: catalog.clone(),
                                client: client::http_client()?,
                                path: path.clone(),
                                token: page.token.clone(),
                                page_size: page_size.to_string(),
                            })
                        })
                        .collect()
                })
                .await?;
                for point in &mut ctx.points[before..] {
                    point.extra.insert("page_size".into(), json!(page_size));
                    point
                        .extra
                        .insert("page_entries".into(), json!(page.entries));
                    point.extra.insert("page_index".into(), json!(page.index));
                    point.extra.insert("listed_total".into(), json!(total));
                    point.extra.insert("fixture_setup_s".into(), json!(setup_s));
                }
            }
        }
    }
    Ok(())
}
