//! `mixed`: a read-heavy mix (by default 90% loadTable, 8% listings, 2% append commits) over a
//! set of tables; every worker commits only to tables of its own, and loads any table.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{catalog_get, parallel, Ctx};
use crate::client::{self, Catalog, CommitError, TableHandle};
use crate::runner::{self, Outcome, Worker};

struct MixedWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    rng: StdRng,
    /// Every table of the mix, as paths below the catalog base.
    all: Arc<Vec<String>>,
    own: Vec<TableHandle>,
    ns: String,
    /// Cumulative weights: load, list, commit.
    cumulative: [u32; 3],
    lists: u64,
}

impl Worker for MixedWorker {
    async fn call(&mut self) -> Outcome {
        let roll = self.rng.random_range(0..self.cumulative[2].max(1));
        if roll < self.cumulative[0] || (roll >= self.cumulative[1] && self.own.is_empty()) {
            let path = &self.all[self.rng.random_range(0..self.all.len())];
            catalog_get(
                &self.catalog,
                &self.client,
                "load",
                path,
                &[("snapshots", "all")],
                &[],
                200,
            )
            .await
        } else if roll < self.cumulative[1] {
            self.lists += 1;
            let path = if self.lists.is_multiple_of(2) {
                "namespaces".to_string()
            } else {
                format!("namespaces/{}/tables", self.ns)
            };
            catalog_get(
                &self.catalog,
                &self.client,
                "list",
                &path,
                &[("pageToken", ""), ("pageSize", "100")],
                &[],
                200,
            )
            .await
        } else {
            let i = self.rng.random_range(0..self.own.len());
            let table = &mut self.own[i];
            for _ in 0..100 {
                match self.catalog.append(&self.client, table).await {
                    Ok(_) => return Outcome::ok("commit"),
                    Err(CommitError::Conflict(_)) => {
                        match self
                            .catalog
                            .load_state(&self.client, &table.ns, &table.name)
                            .await
                        {
                            Ok(fresh) => *table = fresh,
                            Err(e) => return Outcome::err("commit", format!("reload: {e:#}")),
                        }
                    }
                    Err(CommitError::Failed(message)) => return Outcome::err("commit", message),
                }
            }
            Outcome::err("commit", "gave up after 100 conflicts")
        }
    }
}

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let catalog = ctx.catalog.clone();
    let setup = client::http_client()?;
    let ns = ctx.ns("mixed");
    catalog.create_namespace(&setup, &ns).await?;
    let max_c = ctx.opts.connections.iter().copied().max().unwrap_or(1);
    let t = ctx.opts.mixed_tables.max(max_c);
    let created = parallel(t, ctx.opts.setup_connections, |j| {
        let catalog = catalog.clone();
        let setup = setup.clone();
        let ns = ns.clone();
        async move {
            let mut table = catalog
                .create_table(&setup, &ns, &format!("t{j:04}"))
                .await?;
            catalog
                .append(&setup, &mut table)
                .await
                .map_err(|e| anyhow::anyhow!("first commit to {ns}.t{j:04}: {e}"))?;
            Ok(table)
        }
    })
    .await?;
    let all: Arc<Vec<String>> = Arc::new(created.iter().map(TableHandle::path).collect());
    let [load, list, commit] = ctx.opts.mixed_weights;
    let cumulative = [load, load + list, load + list + commit];
    let variant = format!("{load}/{list}/{commit}");
    for c in ctx.opts.connections.clone() {
        for repeat in 0..ctx.opts.repeat {
            // Each point starts from the tables' current state (the previous point committed).
            let current = parallel(t, ctx.opts.setup_connections, |j| {
                let catalog = catalog.clone();
                let setup = setup.clone();
                let ns = ns.clone();
                async move { catalog.load_state(&setup, &ns, &format!("t{j:04}")).await }
            })
            .await?;
            let mut per_worker: Vec<Vec<TableHandle>> = vec![Vec::new(); c];
            for (j, table) in current.into_iter().enumerate() {
                per_worker[j % c].push(table);
            }
            let workers = per_worker
                .into_iter()
                .map(|own| {
                    Ok(MixedWorker {
                        catalog: catalog.clone(),
                        client: client::http_client()?,
                        rng: StdRng::from_os_rng(),
                        all: all.clone(),
                        own,
                        ns: ns.clone(),
                        cumulative,
                        lists: 0,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (mut point, _) =
                runner::run("mixed", &variant, &ctx.spec, workers, ctx.monitor.as_ref()).await;
            point.repeat = repeat;
            point.extra.insert("tables".into(), json!(t));
            ctx.record(point);
        }
    }
    Ok(())
}
