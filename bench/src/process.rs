//! Whole-process figures from /proc (resident memory, CPU time), the machine's description, and
//! the Frazil process the harness starts itself with `--start-frazil`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::results::Machine;

/// Reads one process's figures.
#[derive(Debug, Clone, Copy)]
pub struct ProcMonitor {
    pub pid: u32,
}

impl ProcMonitor {
    /// VmRSS, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        status_field(self.pid, "VmRSS:")
    }

    /// VmHWM (peak resident set), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_field(self.pid, "VmHWM:")
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.pid))
    }

    /// Samples VmRSS every 50 ms until [`RssSampler::finish`].
    pub fn sample_rss(&self) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let monitor = *self;
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples: Vec<u64> = Vec::new();
            loop {
                if let Some(rss) = monitor.rss_kib() {
                    samples.push(rss);
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples
        });
        RssSampler { stop, task }
    }
}

pub struct RssSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    /// (max, mean) VmRSS in KiB over the samples.
    pub async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.task.await.unwrap_or_default();
        let max = samples.iter().copied().max().unwrap_or(0);
        let mean = if samples.is_empty() {
            0
        } else {
            samples.iter().sum::<u64>() / samples.len() as u64
        };
        (max, mean)
    }
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn cpu_seconds_of(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name may contain spaces: fields are counted after the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of stat(5); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// CPU seconds this process (the harness) has used.
pub fn self_cpu_seconds() -> Option<f64> {
    cpu_seconds_of("/proc/self/stat")
}

/// Busy CPU seconds of the whole machine (all CPUs, everything but idle and iowait).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = fields.iter().take(8).sum::<f64>() - fields.get(3)? - fields.get(4)?;
    Some(busy / clock_ticks())
}

/// CPU seconds used so far by every process named `postgres` (a local database server).
pub fn postgres_cpu_seconds() -> Option<f64> {
    let mut total = 0.0;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            if let Some(cpu) = cpu_seconds_of(&format!("/proc/{pid}/stat")) {
                total += cpu;
                found = true;
            }
        }
    }
    found.then_some(total)
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_total_mib: mem_total_kib / 1024,
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        database_version: None,
    }
}

/// Which metadata store the started Frazil uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        }
    }
}

/// A Frazil server the harness runs: its own data directory, warehouse and database.
pub struct Frazil {
    pub binary: PathBuf,
    pub work_dir: PathBuf,
    pub port: u16,
    pub database_url: String,
    /// The Postgres server URL (database `postgres`) and the database created for the run.
    postgres: Option<(String, String)>,
    pub client_id: String,
    pub client_secret: String,
    child: Option<Child>,
    starts: usize,
}

impl Frazil {
    /// Creates the work directory (and the Postgres database) for a fresh Frazil.
    pub async fn prepare(
        binary: &Path,
        store: Store,
        work_dir: &Path,
        postgres_url: &str,
        run_id: &str,
    ) -> anyhow::Result<Self> {
        let binary = std::path::absolute(binary)?;
        if !binary.is_file() {
            bail!("--start-frazil {}: no such file", binary.display());
        }
        let work_dir = std::path::absolute(work_dir)?;
        std::fs::create_dir_all(work_dir.join("data"))?;
        std::fs::create_dir_all(work_dir.join("warehouse"))?;
        let (database_url, postgres) = match store {
            Store::Sqlite => (
                format!("sqlite://{}", work_dir.join("data/frazil.db").display()),
                None,
            ),
            Store::Postgres => {
                let db = format!("frazil_bench_{run_id}");
                let admin = with_database(postgres_url, "postgres")?;
                create_database(&admin, &db).await?;
                (with_database(postgres_url, &db)?, Some((admin, db)))
            }
        };
        Ok(Self {
            binary,
            work_dir,
            port: free_port()?,
            database_url,
            postgres,
            client_id: "frazil-bench-admin".into(),
            client_secret: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            child: None,
            starts: 0,
        })
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn catalog_uri(&self) -> String {
        format!(
            "{}/iceberg/catalog/organizations/default/environments/default",
            self.origin()
        )
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn monitor(&self) -> Option<ProcMonitor> {
        self.pid().map(|pid| ProcMonitor { pid })
    }

    /// `frazil --version`.
    pub async fn version(&self) -> Option<String> {
        let output = Command::new(&self.binary)
            .arg("--version")
            .output()
            .await
            .ok()?;
        Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Starts `frazil serve` and waits until `/readyz` (else `/healthz`) answers 200; returns the
    /// time from spawn to ready.
    pub async fn start(&mut self) -> anyhow::Result<Duration> {
        if self.child.is_some() {
            bail!("Frazil is already running");
        }
        self.starts += 1;
        let log_path = self.work_dir.join(format!("frazil-{}.log", self.starts));
        let log = std::fs::File::create(&log_path)?;
        let warehouse = url::Url::from_directory_path(self.work_dir.join("warehouse"))
            .map_err(|()| anyhow::anyhow!("warehouse path is not absolute"))?
            .to_string();
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .env("FRAZIL_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FRAZIL_DATA_DIR", self.work_dir.join("data"))
            .env("FRAZIL_DATABASE_URL", &self.database_url)
            .env("FRAZIL_WAREHOUSE", warehouse.trim_end_matches('/'))
            .env("FRAZIL_BOOTSTRAP_CLIENT_ID", &self.client_id)
            .env("FRAZIL_BOOTSTRAP_CLIENT_SECRET", &self.client_secret)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = started + Duration::from_secs(60);
        let mut probe = "/readyz";
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "frazil exited with {status} before it was ready; see {}",
                    log_path.display()
                );
            }
            if let Ok(response) = client.get(format!("{}{probe}", self.origin())).send().await {
                match response.status().as_u16() {
                    200 => break,
                    404 => probe = "/healthz",
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                bail!(
                    "frazil was not ready within 60 s; see {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready = started.elapsed();
        self.child = Some(child);
        Ok(ready)
    }

    /// SIGTERM, then SIGKILL after 15 s.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("frazil did not stop within 15 s of SIGTERM; killing it");
                child.kill().await?;
            }
        }
        Ok(())
    }

    /// Stops the server, drops the Postgres database, and removes the work directory unless
    /// `keep`.
    pub async fn cleanup(&mut self, keep: bool) -> anyhow::Result<()> {
        self.stop().await?;
        if keep {
            eprintln!("kept {} ({})", self.work_dir.display(), self.database_url);
            return Ok(());
        }
        if let Some((admin, db)) = &self.postgres {
            drop_database(admin, db).await?;
        }
        std::fs::remove_dir_all(&self.work_dir)
            .with_context(|| format!("removing {}", self.work_dir.display()))?;
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `url` with its path (database name) replaced.
pub fn with_database(url: &str, db: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    parsed.set_path(&format!("/{db}"));
    Ok(parsed.to_string())
}

async fn create_database(admin_url: &str, db: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to {}", redact(admin_url)))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

async fn drop_database(admin_url: &str, db: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// The URL without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
