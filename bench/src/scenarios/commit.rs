//! `commit-distinct` (the materializer pattern: K tables, append commits spread over C
//! connections) and `commit-contended` (W writers appending to one table, retrying on 409, then
//! checking that every acknowledged commit is in the table's snapshot log).

use std::sync::Arc;

use serde_json::json;

use super::{parallel, Ctx};
use crate::client::{self, Catalog, CommitError, TableHandle};
use crate::runner::{self, Outcome, Worker};

/// Retries of one commit after 409 before the writer gives up on it.
const MAX_ATTEMPTS: u32 = 1000;

/// Appends to its own tables in turn.
struct DistinctWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    tables: Vec<TableHandle>,
    next: usize,
}

impl Worker for DistinctWorker {
    async fn call(&mut self) -> Outcome {
        let i = self.next % self.tables.len();
        self.next += 1;
        let table = &mut self.tables[i];
        match self.catalog.append(&self.client, table).await {
            Ok(_) => Outcome::ok("commit"),
            Err(e) => {
                // Nobody else writes these tables: a conflict is an error. Resynchronise.
                if let Ok(fresh) = self
                    .catalog
                    .load_state(&self.client, &table.ns, &table.name)
                    .await
                {
                    *table = fresh;
                }
                Outcome::err("commit", e.to_string())
            }
        }
    }
}

pub async fn distinct(ctx: &mut Ctx) -> anyhow::Result<()> {
    let catalog = ctx.catalog.clone();
    let setup = client::http_client()?;
    let ns = ctx.ns("distinct");
    catalog.create_namespace(&setup, &ns).await?;
    for c in ctx.opts.connections.clone() {
        let k = ctx.opts.commit_tables.max(c);
        for repeat in 0..ctx.opts.repeat {
            // Fresh tables for every point, so each starts from the same metadata size.
            let tables = parallel(k, ctx.opts.setup_connections, |j| {
                let catalog = catalog.clone();
                let setup = setup.clone();
                let ns = ns.clone();
                async move {
                    catalog
                        .create_table(&setup, &ns, &format!("c{c}_r{repeat}_t{j}"))
                        .await
                }
            })
            .await?;
            let mut per_worker: Vec<Vec<TableHandle>> = vec![Vec::new(); c];
            for (j, table) in tables.into_iter().enumerate() {
                per_worker[j % c].push(table);
            }
            let workers = per_worker
                .into_iter()
                .map(|tables| {
                    Ok(DistinctWorker {
                        catalog: catalog.clone(),
                        client: client::http_client()?,
                        tables,
                        next: 0,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (mut point, _) = runner::run(
                "commit-distinct",
                &format!("{k} tables"),
                &ctx.spec,
                workers,
                ctx.monitor.as_ref(),
            )
            .await;
            point.repeat = repeat;
            point.extra.insert("tables".into(), k.into());
            ctx.record(point);
        }
    }
    Ok(())
}

/// One of W writers of the same table.
struct ContendedWorker {
    catalog: Arc<Catalog>,
    client: reqwest::Client,
    table: TableHandle,
    acked: Vec<i64>,
    conflicts: u64,
    gave_up: u64,
}

impl Worker for ContendedWorker {
    async fn call(&mut self) -> Outcome {
        for _ in 0..MAX_ATTEMPTS {
            match self.catalog.append(&self.client, &mut self.table).await {
                Ok(appended) => {
                    self.acked.push(appended.snapshot_id);
                    return Outcome::ok("commit");
                }
                Err(CommitError::Conflict(_)) => {
                    self.conflicts += 1;
                    match self
                        .catalog
                        .load_state(&self.client, &self.table.ns, &self.table.name)
                        .await
                    {
                        Ok(fresh) => self.table = fresh,
                        Err(e) => return Outcome::err("commit", format!("reload: {e:#}")),
                    }
                }
                Err(CommitError::Failed(message)) => return Outcome::err("commit", message),
            }
        }
        self.gave_up += 1;
        Outcome::err("commit", format!("gave up after {MAX_ATTEMPTS} conflicts"))
    }
}

pub async fn contended(ctx: &mut Ctx) -> anyhow::Result<()> {
    let catalog = ctx.catalog.clone();
    let setup = client::http_client()?;
    let ns = ctx.ns("contended");
    catalog.create_namespace(&setup, &ns).await?;
    for w in ctx.opts.contended_writers.clone() {
        for repeat in 0..ctx.opts.repeat {
            let name = format!("w{w}_r{repeat}");
            let table = catalog.create_table(&setup, &ns, &name).await?;
            let workers = (0..w)
                .map(|_| {
                    Ok(ContendedWorker {
                        catalog: catalog.clone(),
                        client: client::http_client()?,
                        table: table.clone(),
                        acked: Vec::new(),
                        conflicts: 0,
                        gave_up: 0,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (mut point, workers) = runner::run(
                "commit-contended",
                &format!("{w} writers"),
                &ctx.spec,
                workers,
                ctx.monitor.as_ref(),
            )
            .await;
            point.repeat = repeat;
            let acked: Vec<i64> = workers.iter().flat_map(|w| w.acked.clone()).collect();
            let conflicts: u64 = workers.iter().map(|w| w.conflicts).sum();
            let gave_up: u64 = workers.iter().map(|w| w.gave_up).sum();
            // Every acknowledged commit (inside the window or not) must be in the table.
            let lineage = catalog.snapshot_lineage(&setup, &ns, &name).await?;
            let missing_log = acked
                .iter()
                .filter(|id| !lineage.snapshot_log.contains(id))
                .count();
            let missing_lineage = acked
                .iter()
                .filter(|id| !lineage.ancestry.contains(id))
                .count();
            let lost = missing_log.max(missing_lineage);
            if lost > 0 {
                ctx.failures.push(format!(
                    "commit-contended {w} writers: {lost} of {} acknowledged commits are missing \
                     ({missing_log} from the snapshot log, {missing_lineage} from main's ancestry)",
                    acked.len()
                ));
            }
            point.extra.insert("acked".into(), json!(acked.len()));
            point.extra.insert("lost".into(), json!(lost));
            point
                .extra
                .insert("snapshots_in_table".into(), json!(lineage.snapshots));
            point.extra.insert("conflicts".into(), json!(conflicts));
            point.extra.insert(
                "conflicts_per_commit".into(),
                json!(conflicts as f64 / point.ok.max(1) as f64),
            );
            point.extra.insert("gave_up".into(), json!(gave_up));
            ctx.record(point);
        }
    }
    Ok(())
}
