//! The closed-loop load generator: C workers, each issuing one request after the other for a
//! fixed duration or until a shared request count is used up, after a warm-up whose requests are
//! not counted. Latencies go into HDR histograms (microseconds); the server process is sampled
//! (CPU, resident memory) over the measured window.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::process::{self, ProcMonitor};
use crate::results::{Latency, OpStats, Point, ProcessSample};

/// Distinct error messages kept per point; more are counted under "other errors".
const MAX_ERROR_KINDS: usize = 20;

/// The result of one unit of work.
#[derive(Debug)]
pub struct Outcome {
    pub op: &'static str,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok(op: &'static str) -> Self {
        Self { op, error: None }
    }

    pub fn err(op: &'static str, error: impl Into<String>) -> Self {
        Self {
            op,
            error: Some(error.into()),
        }
    }
}

/// A load-generating worker: its own HTTP client and whatever state its requests need.
pub trait Worker: Send + 'static {
    fn call(&mut self) -> impl Future<Output = Outcome> + Send;
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
}

struct OpRecorder {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
}

impl OpRecorder {
    fn new() -> Self {
        Self {
            histogram: new_histogram(),
            ok: 0,
            errors: 0,
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 us .. 1 hour at 3 significant digits; the bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

#[derive(Default)]
struct Recorder {
    ops: BTreeMap<&'static str, OpRecorder>,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

impl Recorder {
    fn record(&mut self, outcome: Outcome, latency: Duration, done: Instant) {
        let op = self.ops.entry(outcome.op).or_insert_with(OpRecorder::new);
        match outcome.error {
            None => {
                op.ok += 1;
                let micros = u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                op.histogram.saturating_record(micros);
            }
            Some(message) => {
                op.errors += 1;
                count_error(&mut self.errors, message, 1);
            }
        }
        self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
    }

    fn merge(&mut self, other: Recorder) {
        for (name, op) in other.ops {
            let mine = self.ops.entry(name).or_insert_with(OpRecorder::new);
            mine.ok += op.ok;
            mine.errors += op.errors;
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.histogram.add(&op.histogram);
        }
        for (message, n) in other.errors {
            count_error(&mut self.errors, message, n);
        }
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn count_error(errors: &mut BTreeMap<String, u64>, message: String, n: u64) {
    if errors.len() < MAX_ERROR_KINDS || errors.contains_key(&message) {
        *errors.entry(message).or_default() += n;
    } else {
        *errors.entry("other errors".to_string()).or_default() += n;
    }
}

fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        mean: h.mean() / 1000.0,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

/// Runs `workers` (one per connection) under `spec`, returning the point and the workers (whose
/// state some scenarios inspect afterwards).
pub async fn run<W: Worker>(
    scenario: &str,
    variant: &str,
    spec: &LoadSpec,
    workers: Vec<W>,
    monitor: Option<&ProcMonitor>,
) -> (Point, Vec<W>) {
    let connections = workers.len();
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let end = spec.duration.map(|d| measure_start + d);
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(connections);
    for mut worker in workers {
        let issued = issued.clone();
        let stop = stop.clone();
        let limit = spec.requests;
        handles.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            loop {
                let t0 = Instant::now();
                if stop.load(Ordering::Relaxed) || end.is_some_and(|end| t0 >= end) {
                    break;
                }
                let measuring = t0 >= measure_start;
                if let (Some(limit), true) = (limit, measuring) {
                    if issued.fetch_add(1, Ordering::Relaxed) >= limit {
                        break;
                    }
                }
                let outcome = worker.call().await;
                let t1 = Instant::now();
                if measuring && end.is_none_or(|end| t1 <= end) {
                    recorder.record(outcome, t1 - t0, t1);
                }
            }
            (recorder, worker)
        }));
    }

    // Sample the server over the measured window.
    tokio::time::sleep_until(measure_start.into()).await;
    let cpu_before = monitor.and_then(ProcMonitor::cpu_seconds);
    let client_before = process::self_cpu_seconds();
    let postgres_before = process::postgres_cpu_seconds();
    let machine_before = process::machine_busy_seconds();
    let sampler = monitor.map(|m| m.sample_rss());
    let mut recorder = Recorder::default();
    let mut returned = Vec::with_capacity(connections);
    let mut cpu_after = None;
    let mut client_after = None;
    let mut postgres_after = None;
    let mut machine_after = None;
    if let Some(end) = end {
        tokio::time::sleep_until(end.into()).await;
        cpu_after = monitor.and_then(ProcMonitor::cpu_seconds);
        client_after = process::self_cpu_seconds();
        postgres_after = process::postgres_cpu_seconds();
        machine_after = process::machine_busy_seconds();
        stop.store(true, Ordering::Relaxed);
    }
    for handle in handles {
        match handle.await {
            Ok((worker_recorder, worker)) => {
                recorder.merge(worker_recorder);
                returned.push(worker);
            }
            Err(e) => count_error(&mut recorder.errors, format!("worker panicked: {e}"), 1),
        }
    }
    if end.is_none() {
        cpu_after = monitor.and_then(ProcMonitor::cpu_seconds);
        client_after = process::self_cpu_seconds();
        postgres_after = process::postgres_cpu_seconds();
        machine_after = process::machine_busy_seconds();
    }
    let rss = match sampler {
        Some(sampler) => Some(sampler.finish().await),
        None => None,
    };
    let elapsed = match end {
        Some(end) => end - measure_start,
        None => recorder.last_done.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(measure_start)
        }),
    }
    .as_secs_f64()
    .max(1e-9);

    let mut all = new_histogram();
    let mut ok = 0;
    let mut errors = 0;
    let mut by_op = BTreeMap::new();
    for (name, op) in &recorder.ops {
        let _ = all.add(&op.histogram);
        ok += op.ok;
        errors += op.errors;
        by_op.insert(
            name.to_string(),
            OpStats {
                ok: op.ok,
                errors: op.errors,
                throughput: op.ok as f64 / elapsed,
                latency: latency(&op.histogram),
            },
        );
    }
    errors = errors.max(recorder.errors.values().sum());
    let server = match (cpu_before, cpu_after, rss) {
        (Some(before), Some(after), Some((rss_max, rss_mean))) => Some(ProcessSample {
            cpu_s: after - before,
            rss_max_kib: rss_max,
            rss_mean_kib: rss_mean,
        }),
        _ => None,
    };
    let point = Point {
        scenario: scenario.to_string(),
        variant: variant.to_string(),
        connections,
        repeat: 0,
        elapsed_s: elapsed,
        ok,
        errors,
        throughput: ok as f64 / elapsed,
        latency: latency(&all),
        by_op,
        error_samples: recorder.errors,
        server,
        client_cpu_s: match (client_before, client_after) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        },
        postgres_cpu_s: match (postgres_before, postgres_after) {
            (Some(b), Some(a)) if a >= b => Some(a - b),
            _ => None,
        },
        machine_busy_s: match (machine_before, machine_after) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        },
        extra: BTreeMap::new(),
    };
    (point, returned)
}
