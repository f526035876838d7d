//! The JSON a run writes and the report reads. Every figure is kept per repeat; the report takes
//! medians across repeats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning. 2: `growth` comes from single-snapshot probe commits
/// during a batched build (1: from every commit of a one-snapshot-per-commit build).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub format_version: u32,
    /// Names the run in the report, e.g. `sqlite` or `postgres`.
    pub label: String,
    pub started_at: String,
    pub finished_at: String,
    /// The exact command line of `frazil-bench run`.
    pub command: String,
    pub git_rev: Option<String>,
    pub machine: Machine,
    pub target: TargetInfo,
    pub settings: Settings,
    /// Present when the harness started Frazil itself (`--start-frazil`).
    pub frazil: Option<ProcessInfo>,
    pub points: Vec<Point>,
    /// Commit latency against metadata size, from single-snapshot probe commits at about 20
    /// sizes while the large tables are built.
    pub growth: Vec<Growth>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_mib: u64,
    pub cpu_model: String,
    pub kernel: String,
    /// `SELECT version()` of the Postgres the run used, if any.
    pub database_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TargetInfo {
    pub catalog_uri: String,
    pub warehouse: Option<String>,
    /// The `{uri}/v1[/{prefix}]` every catalog call goes below.
    pub api_base: String,
    /// `none`, `bearer` or `client-credentials`.
    pub auth: String,
    pub token_url: Option<String>,
    pub ceiling_url: Option<String>,
    /// The database of the primary-key baseline (password removed).
    pub db_url: Option<String>,
    pub db_query: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Settings {
    pub connections: Vec<usize>,
    pub headline_connections: usize,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub warmup_s: f64,
    pub repeat: usize,
    pub client_threads: usize,
    pub scenarios: Vec<String>,
    pub large_snapshots: Vec<usize>,
    /// `--build-batch`: snapshots per build commit of the large tables (0 = automatic).
    #[serde(default)]
    pub build_batch: usize,
    pub commit_tables: usize,
    pub contended_writers: Vec<usize>,
    pub list_namespaces: usize,
    pub list_tables: usize,
    pub list_page_size: usize,
    pub mixed_tables: usize,
    pub mixed_weights: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProcessInfo {
    pub binary: String,
    pub version: Option<String>,
    /// `sqlite` or `postgres`.
    pub store: String,
    /// Start to ready on a fresh database (includes migrations), in ms.
    pub first_start_ready_ms: f64,
    /// Start to ready on the existing database, in ms, one per restart.
    pub restart_ready_ms: Vec<f64>,
    /// Resident memory once ready and idle, in KiB.
    pub idle_rss_kib: Option<u64>,
    /// Resident memory idle again after every scenario ran, in KiB.
    pub idle_rss_after_kib: Option<u64>,
    /// VmHWM at the end of the run, in KiB.
    pub peak_rss_kib: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Point {
    pub scenario: String,
    pub variant: String,
    pub connections: usize,
    pub repeat: usize,
    /// The measured window, in seconds.
    pub elapsed_s: f64,
    pub ok: u64,
    pub errors: u64,
    /// Successful requests per second.
    pub throughput: f64,
    pub latency: Latency,
    /// Per operation, where a scenario mixes several (mixed, commit retries).
    pub by_op: BTreeMap<String, OpStats>,
    /// Distinct error messages and how often each occurred.
    pub error_samples: BTreeMap<String, u64>,
    pub server: Option<ProcessSample>,
    /// CPU seconds the harness itself used in the window.
    pub client_cpu_s: Option<f64>,
    /// CPU seconds of local `postgres` processes in the window (backends that exited during
    /// the window are not counted).
    #[serde(default)]
    pub postgres_cpu_s: Option<f64>,
    /// Busy CPU seconds of the whole machine in the window.
    #[serde(default)]
    pub machine_busy_s: Option<f64>,
    /// Scenario-specific figures (conflicts, retries, lost commits, list sizes, ...).
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct OpStats {
    pub ok: u64,
    pub errors: u64,
    pub throughput: f64,
    pub latency: Latency,
}

/// Milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProcessSample {
    /// CPU seconds (user + system) the server used in the window.
    pub cpu_s: f64,
    pub rss_max_kib: u64,
    pub rss_mean_kib: u64,
}

/// How commit latency grows with the metadata size of one large table. Format 2: the table is
/// built with batched append commits, and at about 20 evenly spaced sizes (the last at the end)
/// a probe of ordinary single-snapshot append commits measures the commit latency; every figure
/// below comes from the probes. Format 1 fitted every commit of a one-snapshot-per-commit build.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Growth {
    pub table: String,
    /// Snapshots of the finished table (build and probe commits together).
    pub snapshots: usize,
    /// Commits of the build between the probes (format 1: every commit of the build).
    #[serde(alias = "commits")]
    pub build_commits: usize,
    /// Most snapshots one build commit added (format 1: 1).
    #[serde(default = "one")]
    pub build_batch: usize,
    /// Single-snapshot commits per probe; a probe's latency is their median (format 1: 0).
    #[serde(default)]
    pub probe_commits: usize,
    /// Least-squares fit of probe commit latency (ms) on metadata size (MiB).
    pub slope_ms_per_mib: f64,
    pub intercept_ms: f64,
    pub r2: f64,
    /// Fit of probe commit latency on the number of snapshots in the table.
    pub slope_ms_per_1000_snapshots: f64,
    /// Exponent k of latency ~ size^k over the upper half of the probes (1 = linear).
    pub exponent: f64,
    pub final_metadata_bytes: u64,
    /// The whole build, probes included.
    pub build_s: f64,
    /// The probes, in build order.
    #[serde(default)]
    pub probes: Vec<GrowthProbe>,
    /// Format 1 only: (metadata bytes, median commit ms) per bucket of build commits.
    #[serde(default, skip_serializing)]
    pub buckets: Vec<(u64, f64)>,
}

fn one() -> usize {
    1
}

/// Single-snapshot append commits at one size of the table.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq)]
pub struct GrowthProbe {
    /// Snapshots in the table after the probe's commits.
    pub snapshots: usize,
    /// Metadata size after the probe's commits (the last commit's response).
    pub metadata_bytes: u64,
    /// Median latency of the probe's commits.
    pub median_ms: f64,
}

impl Growth {
    /// (metadata bytes, commit ms) in build order: the probes, or a format-1 run's buckets.
    pub fn latency_by_size(&self) -> Vec<(u64, f64)> {
        if self.probes.is_empty() {
            return self.buckets.clone();
        }
        self.probes
            .iter()
            .map(|p| (p.metadata_bytes, p.median_ms))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Skipped {
    pub scenario: String,
    pub variant: String,
    pub reason: String,
}
