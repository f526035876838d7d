//! `frazil-bench report`: medians across repeats, ratios against the baselines of the same run,
//! the issue-6 targets, and the PNG plot, rendered into docs/BENCHMARKS.md. A hand-written notes
//! section between the markers below survives re-rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::results::{Point, RunResults};

pub const NOTES_BEGIN: &str = "<!-- notes:begin (kept when the file is re-rendered) -->";
pub const NOTES_END: &str = "<!-- notes:end -->";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// JSON results of `frazil-bench run` (one per store).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The Markdown to write.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    output: PathBuf,
    /// The PNG plot to write (throughput and p99 against concurrency).
    #[arg(long, default_value = "bench/results/plot.png")]
    plot: PathBuf,
    /// A TrueType font for the plot's text.
    #[arg(long)]
    font: Option<PathBuf>,
    /// The command that produced the inputs, shown under "How to reproduce".
    #[arg(long, default_value = "scripts/bench.sh")]
    reproduce: String,
}

/// Medians over the repeats of one (run, scenario, variant, connections).
#[derive(Debug, Clone, Default)]
pub struct Agg {
    pub scenario: String,
    pub variant: String,
    pub connections: usize,
    pub throughput: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub errors: u64,
    /// Server CPU per successful request, microseconds.
    pub server_cpu_us: Option<f64>,
    /// Server CPU utilisation in the window (1.0 = one core).
    pub server_cores: Option<f64>,
    pub client_cores: Option<f64>,
    pub postgres_cores: Option<f64>,
    pub machine_cores: Option<f64>,
    pub rss_max_kib: Option<u64>,
    pub extra: BTreeMap<String, serde_json::Value>,
    pub ops: BTreeMap<String, (f64, f64)>,
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Groups the points of one run, in the order they were measured.
pub fn aggregate(points: &[Point]) -> Vec<Agg> {
    let mut order: Vec<(String, String, usize)> = Vec::new();
    let mut groups: BTreeMap<(String, String, usize), Vec<&Point>> = BTreeMap::new();
    for p in points {
        let key = (p.scenario.clone(), p.variant.clone(), p.connections);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(p);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let group = groups.get(&key)?;
            let pick = |f: &dyn Fn(&Point) -> f64| {
                let mut v: Vec<f64> = group.iter().map(|p| f(p)).collect();
                median(&mut v)
            };
            let opt = |f: &dyn Fn(&Point) -> Option<f64>| {
                let mut v: Vec<f64> = group.iter().filter_map(|p| f(p)).collect();
                (!v.is_empty()).then(|| median(&mut v))
            };
            let mut extra = group[0].extra.clone();
            // Lost commits and failures add up over repeats; the rest is from the first repeat.
            for field in ["lost", "gave_up"] {
                let total: u64 = group
                    .iter()
                    .filter_map(|p| p.extra.get(field).and_then(serde_json::Value::as_u64))
                    .sum();
                if extra.contains_key(field) {
                    extra.insert(field.into(), total.into());
                }
            }
            let mut ops = BTreeMap::new();
            for name in group[0].by_op.keys() {
                let mut t: Vec<f64> = group
                    .iter()
                    .filter_map(|p| p.by_op.get(name).map(|o| o.throughput))
                    .collect();
                let mut l: Vec<f64> = group
                    .iter()
                    .filter_map(|p| p.by_op.get(name).map(|o| o.latency.p99))
                    .collect();
                ops.insert(name.clone(), (median(&mut t), median(&mut l)));
            }
            Some(Agg {
                scenario: key.0.clone(),
                variant: key.1.clone(),
                connections: key.2,
                throughput: pick(&|p| p.throughput),
                p50: pick(&|p| p.latency.p50),
                p90: pick(&|p| p.latency.p90),
                p99: pick(&|p| p.latency.p99),
                max: pick(&|p| p.latency.max),
                errors: group.iter().map(|p| p.errors).sum(),
                server_cpu_us: opt(&|p| {
                    p.server
                        .as_ref()
                        .filter(|_| p.ok > 0)
                        .map(|s| s.cpu_s * 1e6 / p.ok as f64)
                }),
                server_cores: opt(&|p| p.server.as_ref().map(|s| s.cpu_s / p.elapsed_s)),
                client_cores: opt(&|p| p.client_cpu_s.map(|c| c / p.elapsed_s)),
                postgres_cores: opt(&|p| p.postgres_cpu_s.map(|c| c / p.elapsed_s)),
                machine_cores: opt(&|p| p.machine_busy_s.map(|c| c / p.elapsed_s)),
                rss_max_kib: group
                    .iter()
                    .filter_map(|p| p.server.as_ref().map(|s| s.rss_max_kib))
                    .max(),
                extra,
                ops,
            })
        })
        .collect()
}

/// One run, aggregated, with lookups.
pub struct RunView<'a> {
    pub run: &'a RunResults,
    pub aggs: Vec<Agg>,
}

impl<'a> RunView<'a> {
    pub fn new(run: &'a RunResults) -> Self {
        Self {
            run,
            aggs: aggregate(&run.points),
        }
    }

    pub fn get(&self, scenario: &str, variant: &str, connections: usize) -> Option<&Agg> {
        self.aggs.iter().find(|a| {
            a.scenario == scenario && a.variant == variant && a.connections == connections
        })
    }

    pub fn ceiling(&self, connections: usize) -> Option<&Agg> {
        self.get("ceiling", "healthz", connections)
    }

    fn headline(&self) -> usize {
        self.run.settings.headline_connections
    }
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    // Thousands separators for the integer part.
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let negative = int.starts_with('-');
    let digits_only = int.trim_start_matches('-');
    let mut grouped = String::new();
    for (i, ch) in digits_only.chars().enumerate() {
        if i > 0 && (digits_only.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let mut out = if negative {
        format!("-{grouped}")
    } else {
        grouped
    };
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn ms(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.0}%", v * 100.0)
    } else {
        "–".into()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A target's status in one run: (text, met?) or None when not measured.
type Cell = Option<(String, bool)>;

struct Target {
    name: String,
    cells: Vec<Cell>,
    /// Only these labels decide whether the target is met (e.g. postgres for commit rate).
    deciding: Option<&'static str>,
}

fn targets(views: &[RunView]) -> Vec<Target> {
    let mut out = Vec::new();
    let mut row = |name: String, deciding: Option<&'static str>, f: &dyn Fn(&RunView) -> Cell| {
        out.push(Target {
            name,
            cells: views.iter().map(f).collect(),
            deciding,
        });
    };
    let headline = views.first().map_or(32, RunView::headline);

    row(
        format!("load-table (small, snapshots=all) >= 50% of the HTTP ceiling at {headline} connections"),
        None,
        &|v| {
            let c = v.headline();
            let load = v.get("load-table", "small/all", c)?;
            let ceiling = v.ceiling(c)?;
            let ratio = load.throughput / ceiling.throughput;
            Some((
                format!(
                    "{} of {} req/s = **{}**",
                    fmt_num(load.throughput),
                    fmt_num(ceiling.throughput),
                    pct(ratio)
                ),
                ratio >= 0.5,
            ))
        },
    );
    row(
        format!("load-table (small) p99 <= 5 ms at {headline} connections"),
        None,
        &|v| {
            let load = v.get("load-table", "small/all", v.headline())?;
            Some((format!("p99 **{} ms**", ms(load.p99)), load.p99 <= 5.0))
        },
    );
    row(
        "load-table with a matching If-None-Match (304) >= 80% of the ceiling".into(),
        None,
        &|v| {
            let c = v.headline();
            let load = v.get("load-table", "small/all/if-none-match", c)?;
            let ceiling = v.ceiling(c)?;
            let ratio = load.throughput / ceiling.throughput;
            Some((
                format!("{} req/s = **{}**", fmt_num(load.throughput), pct(ratio)),
                ratio >= 0.8,
            ))
        },
    );
    let larges: Vec<usize> = views
        .first()
        .map(|v| v.run.settings.large_snapshots.clone())
        .unwrap_or_default();
    for n in larges {
        row(
            format!("load-table {n} snapshots, snapshots=refs, within 2x of small metadata (refs)"),
            None,
            &move |v| {
                let c = v.headline();
                let small = v.get("load-table", "small/refs", c)?;
                let large = v.get("load-table", &format!("large-{n}/refs"), c)?;
                let slowdown = small.throughput / large.throughput;
                Some((
                    format!(
                        "{} vs {} req/s: **{:.1}x** slower",
                        fmt_num(large.throughput),
                        fmt_num(small.throughput),
                        slowdown
                    ),
                    slowdown <= 2.0,
                ))
            },
        );
    }
    row(
        "commit-distinct >= 1,000 commits/s (Postgres; SQLite reported)".into(),
        Some("postgres"),
        &|v| {
            let best = v
                .aggs
                .iter()
                .filter(|a| a.scenario == "commit-distinct")
                .max_by(|a, b| a.throughput.total_cmp(&b.throughput))?;
            Some((
                format!(
                    "best **{}**/s at {} connections",
                    fmt_num(best.throughput),
                    best.connections
                ),
                best.throughput >= 1000.0,
            ))
        },
    );
    row(
        "commit-contended, 16 writers: zero lost commits".into(),
        None,
        &|v| {
            let a = v.get("commit-contended", "16 writers", 16)?;
            let lost = a.extra.get("lost").and_then(serde_json::Value::as_u64)?;
            let acked = a
                .extra
                .get("acked")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            Some((
                format!("**{lost}** lost of {acked} acknowledged (first repeat)"),
                lost == 0,
            ))
        },
    );
    row(
        "commit-contended, 16 writers: goodput >= 80% of one writer's serial rate".into(),
        None,
        &|v| {
            let one = v.get("commit-contended", "1 writers", 1)?;
            let sixteen = v.get("commit-contended", "16 writers", 16)?;
            let ratio = sixteen.throughput / one.throughput;
            let conflicts = sixteen
                .extra
                .get("conflicts_per_commit")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN);
            Some((
                format!(
                    "{} vs {}/s = **{}** ({:.1} conflicts per commit)",
                    fmt_num(sixteen.throughput),
                    fmt_num(one.throughput),
                    pct(ratio),
                    conflicts
                ),
                ratio >= 0.8,
            ))
        },
    );
    row(
        "list: a 1,000-entry page <= 20 ms (p99, 1 connection); deep pages as fast as the first"
            .into(),
        None,
        &|v| {
            let c = v
                .aggs
                .iter()
                .filter(|a| a.scenario == "list")
                .map(|a| a.connections)
                .min()?;
            let first = v.get("list", "tables/first", c)?;
            let deep = v.get("list", "tables/deep", c);
            let entries = first
                .extra
                .get("page_entries")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            let total = first
                .extra
                .get("listed_total")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            let mut text = format!(
                "{entries}-entry page of {} tables: first p99 **{} ms**",
                fmt_num(total as f64),
                ms(first.p99)
            );
            let mut met = first.p99 <= 20.0 && entries >= 1000;
            if let Some(deep) = deep {
                let ratio = deep.p50 / first.p50;
                let _ = write!(
                    text,
                    ", deep p99 **{} ms** (p50 ratio {ratio:.2})",
                    ms(deep.p99)
                );
                met &= deep.p99 <= 20.0 && ratio <= 1.25;
            }
            if total < 1_000_000 {
                let _ = write!(text, "; measured below the 1,000,000-table scale");
            }
            Some((text, met))
        },
    );
    row("idle RSS <= 30 MiB".into(), None, &|v| {
        let kib = v.run.frazil.as_ref()?.idle_rss_kib?;
        Some((format!("**{}**", mib(kib)), kib <= 30 * 1024))
    });
    row(
        "ready <= 1 s after start on an existing database".into(),
        None,
        &|v| {
            let info = v.run.frazil.as_ref()?;
            let mut restarts = info.restart_ready_ms.clone();
            let m = median(&mut restarts);
            Some((format!("median **{} ms**", ms(m)), m <= 1000.0))
        },
    );
    row(
        "commit latency grows at most linearly with metadata size".into(),
        None,
        &|v| {
            let g = v.run.growth.iter().max_by_key(|g| g.snapshots)?;
            Some((
                format!(
                    "{:.2} ms/MiB ({:.2} ms per 1,000 snapshots), exponent **{:.2}** ({})",
                    g.slope_ms_per_mib, g.slope_ms_per_1000_snapshots, g.exponent, g.table
                ),
                g.exponent <= 1.15,
            ))
        },
    );
    out
}

/// Text of the existing notes section, if the output already has one.
fn existing_notes(output: &Path) -> Option<String> {
    let text = std::fs::read_to_string(output).ok()?;
    let start = text.find(NOTES_BEGIN)? + NOTES_BEGIN.len();
    let end = text[start..].find(NOTES_END)? + start;
    Some(text[start..end].trim_matches('\n').to_string())
}

/// `to` relative to the directory `from_dir`.
fn relative(from_dir: &Path, to: &Path) -> PathBuf {
    let norm = |p: &Path| -> Vec<String> {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut parts: Vec<String> = Vec::new();
        for c in abs.components() {
            match c {
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        parts
    };
    let from = norm(from_dir);
    let to = norm(to);
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    out
}

pub fn render(args: &ReportArgs) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for input in &args.inputs {
        let text = std::fs::read_to_string(input)
            .with_context(|| format!("reading {}", input.display()))?;
        let run: RunResults = serde_json::from_str(&text)
            .with_context(|| format!("{} is not frazil-bench results", input.display()))?;
        runs.push(run);
    }
    let views: Vec<RunView> = runs.iter().map(RunView::new).collect();

    let plot_written = match crate::plot::draw(&views, &args.plot, args.font.as_deref()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("plot not written: {e:#}");
            false
        }
    };
    let out_dir = args
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let plot_link = relative(out_dir, &args.plot);
    let notes = existing_notes(&args.output).unwrap_or_else(|| {
        "_Reading of the figures: write it here; it is kept when the file is re-rendered._".into()
    });
    let md = markdown(
        args,
        &views,
        plot_written.then_some(plot_link.as_path()),
        &notes,
    );
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(&args.output, md)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {}", args.output.display());
    Ok(())
}

fn markdown(args: &ReportArgs, views: &[RunView], plot: Option<&Path>, notes: &str) -> String {
    let mut md = String::new();
    let labels: Vec<&str> = views.iter().map(|v| v.run.label.as_str()).collect();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Measured by `frazil-bench` (crate `bench/`), which drives any Iceberg REST catalog through \
         its REST API only. This page is rendered by `frazil-bench report` from the JSON results \
         in `bench/results/`; only the notes section at the end is written by hand. Every ratio \
         below compares figures measured in the same run on the same machine. Figures are \
         medians over each point's repeats.\n"
    );

    let _ = writeln!(md, "## How to reproduce\n");
    let _ = writeln!(
        md,
        "```sh\n{}            # every scenario, Frazil on SQLite and on Postgres (release builds)\n\
         scripts/bench.sh --smoke    # each scenario for a moment against a debug build (CI)\n```\n",
        args.reproduce
    );
    let _ = writeln!(md, "The exact commands of this run:\n\n```sh");
    for v in views {
        let _ = writeln!(md, "{}", v.run.command);
    }
    let _ = writeln!(md, "```\n");

    let _ = writeln!(md, "## Machine\n");
    if let Some(first) = views.first() {
        let m = &first.run.machine;
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| CPUs (`nproc`) | {} |", m.nproc);
        let _ = writeln!(
            md,
            "| Memory | {:.1} GiB |",
            m.mem_total_mib as f64 / 1024.0
        );
        let _ = writeln!(md, "| CPU model | {} |", m.cpu_model);
        let _ = writeln!(md, "| Kernel | {} |", m.kernel);
        for v in views {
            if let Some(db) = &v.run.machine.database_version {
                let _ = writeln!(md, "| Database ({}) | {} |", v.run.label, db);
            }
        }
        if let Some(info) = &first.run.frazil {
            let _ = writeln!(
                md,
                "| Frazil | {} (`{}`){} |",
                info.version.as_deref().unwrap_or("?"),
                info.binary,
                first
                    .run
                    .git_rev
                    .as_deref()
                    .map(|r| format!(", commit {r}"))
                    .unwrap_or_default()
            );
        }
        let s = &first.run.settings;
        let _ = writeln!(
            md,
            "| Load shape | closed loop, {} per point after {} s warm-up, {} repeat(s), load generator on {} thread(s) |",
            s.duration_s
                .map(|d| format!("{d} s"))
                .or(s.requests.map(|r| format!("{r} requests")))
                .unwrap_or_default(),
            s.warmup_s,
            s.repeat,
            s.client_threads
        );
        let _ = writeln!(
            md,
            "| Run | {} – {} |\n",
            first.run.started_at,
            views.last().map_or("", |v| v.run.finished_at.as_str())
        );
        let _ = writeln!(
            md,
            "The load generator, Frazil and Postgres share these {} CPUs, so every figure includes \
             the load generator's own cost; the ratios against the HTTP ceiling (a trivial route of \
             the same server, measured the same way) factor that out.\n",
            m.nproc
        );
    }

    let _ = writeln!(md, "## Targets (issue 6)\n");
    let _ = write!(md, "| Target |");
    for l in &labels {
        let _ = write!(md, " {l} |");
    }
    let _ = writeln!(md, " Met |");
    let _ = write!(md, "|---|");
    for _ in &labels {
        let _ = write!(md, "---|");
    }
    let _ = writeln!(md, "---|");
    for t in targets(views) {
        let _ = write!(md, "| {} |", t.name);
        let mut verdicts = Vec::new();
        for (v, cell) in views.iter().zip(&t.cells) {
            match cell {
                Some((text, met)) => {
                    let _ = write!(md, " {text} |");
                    if t.deciding.is_none_or(|d| d == v.run.label) {
                        verdicts.push(*met);
                    }
                }
                None => {
                    let _ = write!(md, " not measured |");
                }
            }
        }
        let verdict = if verdicts.is_empty() {
            "not measured"
        } else if verdicts.iter().all(|m| *m) {
            "**met**"
        } else {
            "**not met**"
        };
        let _ = writeln!(md, " {verdict} |");
    }
    let _ = writeln!(md);

    if let Some(plot) = plot {
        let _ = writeln!(md, "## Throughput and p99 against concurrency\n");
        let _ = writeln!(
            md,
            "![Throughput and p99 latency against the number of connections]({})\n",
            plot.display()
        );
    }

    for v in views {
        write_run(&mut md, v);
    }

    let _ = writeln!(md, "## Notes\n");
    let _ = writeln!(md, "{NOTES_BEGIN}");
    let _ = writeln!(md, "{notes}");
    let _ = writeln!(md, "{NOTES_END}");
    md
}

fn write_run(md: &mut String, v: &RunView) {
    let run = v.run;
    let _ = writeln!(md, "## {}\n", run.label);
    let _ = writeln!(
        md,
        "Catalog `{}` (API base `{}`), authentication: {}.\n",
        run.target.catalog_uri, run.target.api_base, run.target.auth
    );
    if let Some(info) = &run.frazil {
        let mut restarts = info.restart_ready_ms.clone();
        let _ = writeln!(md, "| Process | |\n|---|---|");
        let _ = writeln!(md, "| Store | {} |", info.store);
        let _ = writeln!(
            md,
            "| Start to ready, fresh database (migrations) | {} ms |",
            ms(info.first_start_ready_ms)
        );
        let _ = writeln!(
            md,
            "| Start to ready, existing database (median of {}) | {} ms |",
            restarts.len(),
            ms(median(&mut restarts))
        );
        if let Some(kib) = info.idle_rss_kib {
            let _ = writeln!(md, "| RSS idle after start | {} |", mib(kib));
        }
        if let Some(kib) = info.idle_rss_after_kib {
            let _ = writeln!(md, "| RSS idle after all scenarios | {} |", mib(kib));
        }
        if let Some(kib) = info.peak_rss_kib {
            let _ = writeln!(md, "| Peak RSS (VmHWM) | {} |", mib(kib));
        }
        let _ = writeln!(md);
    }
    if let Some(q) = &run.target.db_query {
        let _ = writeln!(
            md,
            "Database baseline: `{q}` with sqlx against `{}`.\n",
            run.target.db_url.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(
        md,
        "| Scenario | Variant | Conns | req/s | vs ceiling | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU µs/req | server cores | client cores | server RSS max | details |"
    );
    let _ = writeln!(
        md,
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for a in &v.aggs {
        let vs = match (a.scenario.as_str(), v.ceiling(a.connections)) {
            ("ceiling", _) => "100%".to_string(),
            (_, Some(c)) => pct(a.throughput / c.throughput),
            (_, None) => "–".into(),
        };
        let mut details: Vec<String> = a
            .extra
            .iter()
            .filter(|(k, _)| k.as_str() != "fixture_setup_s")
            .map(|(k, val)| match val.as_f64() {
                Some(f) if val.is_f64() => format!("{k} {f:.2}"),
                _ => format!("{k} {val}"),
            })
            .collect();
        if let Some(pg) = a.postgres_cores.filter(|c| *c >= 0.01) {
            details.insert(0, format!("postgres {pg:.2} cores"));
        }
        if let Some(busy) = a.machine_cores {
            details.insert(0, format!("machine busy {busy:.2} cores"));
        }
        if a.ops.len() > 1 {
            for (name, (t, p99)) in &a.ops {
                details.push(format!("{name}: {}/s p99 {} ms", fmt_num(*t), ms(*p99)));
            }
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a.scenario,
            a.variant,
            a.connections,
            fmt_num(a.throughput),
            vs,
            ms(a.p50),
            ms(a.p90),
            ms(a.p99),
            ms(a.max),
            a.errors,
            a.server_cpu_us.map_or("–".into(), |u| format!("{u:.0}")),
            a.server_cores.map_or("–".into(), |c| format!("{c:.2}")),
            a.client_cores.map_or("–".into(), |c| format!("{c:.2}")),
            a.rss_max_kib.map_or("–".into(), mib),
            details.join("; ")
        );
    }
    let _ = writeln!(md);
    if !run.growth.is_empty() {
        write_growth(md, run);
    }
    if !run.skipped.is_empty() {
        let _ = writeln!(md, "Skipped:\n");
        for s in &run.skipped {
            let _ = writeln!(md, "- {} {}: {}", s.scenario, s.variant, s.reason);
        }
        let _ = writeln!(md);
    }
}

/// The commit-latency growth table of one run.
fn write_growth(md: &mut String, run: &RunResults) {
    let probed = run.growth.iter().find(|g| !g.probes.is_empty());
    match probed {
        Some(g) => {
            let _ = writeln!(
                md,
                "Commit latency against metadata size, one connection. The large tables are built with batched append commits (the Build column: commits of at most N snapshots, every snapshot its own add-snapshot and set-snapshot-ref main; Iceberg keeps only each commit's last snapshot in the snapshot log, so the metadata is a few percent smaller than with one commit per snapshot). At ~{} evenly spaced sizes (the last at the end) a probe of {} ordinary single-snapshot append commits measures the commit latency; each sample is the median of its {} commits, and the fit, the exponent and the latencies below use only these probe samples.\n",
                g.probes.len(),
                g.probe_commits,
                g.probe_commits
            );
        }
        None => {
            let _ = writeln!(
                md,
                "Commit latency against metadata size (format-{} results: the large tables built one append commit at a time, one connection; fitted on every commit, latencies are medians of 20 buckets of commits):\n",
                run.format_version
            );
        }
    }
    let sampled = if probed.is_some() {
        "Probe commit ms (median)"
    } else {
        "Commit ms"
    };
    let _ = writeln!(
        md,
        "| Table | Snapshots | Final metadata | Build: commits, time | Fit: ms + ms/MiB (r²) | ms per 1,000 snapshots | Exponent (upper half) | {sampled} at 10% / 50% / 100% of the build |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|---|--:|--:|---|");
    for g in &run.growth {
        let samples = g.latency_by_size();
        let at = |f: f64| -> String {
            if samples.is_empty() {
                return "–".into();
            }
            let i = ((samples.len() as f64 * f).ceil() as usize).clamp(1, samples.len()) - 1;
            ms(samples[i].1)
        };
        let commits = if g.probes.is_empty() {
            fmt_num(g.build_commits as f64)
        } else {
            format!(
                "{} of ≤{} + {} probe",
                fmt_num(g.build_commits as f64),
                g.build_batch,
                fmt_num((g.probes.len() * g.probe_commits) as f64)
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} MiB | {}, {:.0} s | {:.2} + {:.2}/MiB ({:.2}) | {:.2} | {:.2} | {} / {} / {} |",
            g.table,
            fmt_num(g.snapshots as f64),
            g.final_metadata_bytes as f64 / 1048576.0,
            commits,
            g.build_s,
            g.intercept_ms,
            g.slope_ms_per_mib,
            g.r2,
            g.slope_ms_per_1000_snapshots,
            g.exponent,
            at(0.1),
            at(0.5),
            at(1.0)
        );
    }
    let _ = writeln!(md);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(fmt_num(1234567.0), "1,234,567");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(999.0), "999");
        assert_eq!(fmt_num(f64::NAN), "–");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn plot_link_is_relative_to_the_page() {
        assert_eq!(
            relative(Path::new("/r/docs"), Path::new("/r/bench/results/plot.png")),
            PathBuf::from("../bench/results/plot.png")
        );
        assert_eq!(
            relative(Path::new("/r/docs"), Path::new("/r/docs/plot.png")),
            PathBuf::from("plot.png")
        );
    }

    #[test]
    fn repeats_are_aggregated_by_median() {
        let point = |t: f64, repeat| Point {
            scenario: "load-table".into(),
            variant: "small/all".into(),
            connections: 8,
            repeat,
            elapsed_s: 1.0,
            ok: t as u64,
            throughput: t,
            ..Point::default()
        };
        let aggs = aggregate(&[point(100.0, 0), point(300.0, 1), point(200.0, 2)]);
        assert_eq!(aggs.len(), 1);
        assert_eq!(aggs[0].throughput, 200.0);
    }
}
