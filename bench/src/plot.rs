//! The PNG plot: for each run, throughput and p99 latency against the number of connections, for
//! the swept scenarios and the baselines. Pure Rust (plotters' bitmap backend and ab_glyph); the
//! text needs a TrueType font from the system (DejaVu Sans by default) or `--font`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::RunView;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

/// (scenario, variant or "" for any, legend, colour)
const SERIES: &[(&str, &str, &str, RGBColor)] = &[
    (
        "ceiling",
        "healthz",
        "HTTP ceiling (GET /healthz)",
        RGBColor(120, 120, 120),
    ),
    (
        "db",
        "",
        "database primary-key read",
        RGBColor(148, 103, 189),
    ),
    (
        "load-table",
        "small/all",
        "loadTable (small metadata)",
        RGBColor(31, 119, 180),
    ),
    (
        "mixed",
        "",
        "mixed (90% load, 8% list, 2% commit)",
        RGBColor(44, 160, 44),
    ),
    (
        "commit-distinct",
        "",
        "commit-distinct",
        RGBColor(214, 39, 40),
    ),
];

fn register_font(explicit: Option<&Path>) -> anyhow::Result<()> {
    let path: PathBuf = match explicit {
        Some(p) => p.to_path_buf(),
        None => FONT_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                anyhow!(
                    "no TrueType font found (tried {}); pass --font",
                    FONT_CANDIDATES.join(", ")
                )
            })?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{} is not a usable TrueType font", path.display()))?;
    Ok(())
}

type Line = (&'static str, RGBColor, Vec<(f64, f64)>);
type Metric = fn(&crate::report::Agg) -> f64;

fn lines(view: &RunView, metric: Metric) -> Vec<Line> {
    SERIES
        .iter()
        .filter_map(|(scenario, variant, legend, color)| {
            let mut points: Vec<(f64, f64)> = view
                .aggs
                .iter()
                .filter(|a| {
                    a.scenario == *scenario && (variant.is_empty() || a.variant == *variant)
                })
                .map(|a| (a.connections as f64, metric(a)))
                .filter(|(_, y)| y.is_finite() && *y > 0.0)
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|a, b| a.0 == b.0);
            (!points.is_empty()).then_some((*legend, *color, points))
        })
        .collect()
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || hi <= 0.0 {
        return (0.1, 10.0);
    }
    (lo / 2.0, hi * 2.0)
}

pub fn draw(views: &[RunView], path: &Path, font: Option<&Path>) -> anyhow::Result<()> {
    if views.is_empty() {
        bail!("no runs to plot");
    }
    register_font(font)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let rows = views.len();
    let height = u32::try_from(440 * rows + 50).unwrap_or(u32::MAX);
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    let e = |e: &dyn std::fmt::Debug| anyhow!("drawing {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (charts, legend) = root.split_vertically(height - 50);
    let areas = charts.split_evenly((rows, 2));
    let mut shown: Vec<(&'static str, RGBColor)> = Vec::new();
    for (r, view) in views.iter().enumerate() {
        let panels: [(&str, &str, Metric); 2] = [
            ("throughput", "requests/s", |a| a.throughput),
            ("p99 latency", "p99 (ms)", |a| a.p99),
        ];
        for (col, (title, y_desc, metric)) in panels.into_iter().enumerate() {
            let area = &areas[r * 2 + col];
            let series = lines(view, metric);
            let (x_lo, x_hi) = bounds(series.iter().flat_map(|s| s.2.iter().map(|p| p.0)));
            let (x_lo, x_hi) = (x_lo.max(0.5) * 1.4, x_hi / 1.4);
            let (y_lo, y_hi) = bounds(series.iter().flat_map(|s| s.2.iter().map(|p| p.1)));
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{}: {title} against connections", view.run.label),
                    ("sans-serif", 22),
                )
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(74)
                .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
                .map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_desc("connections")
                .y_desc(y_desc)
                .label_style(("sans-serif", 14))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| {
                    if *y >= 1.0 {
                        format!("{y:.0}")
                    } else {
                        format!("{y:.2}")
                    }
                })
                .draw()
                .map_err(|x| e(&x))?;
            for (legend, color, points) in series {
                if !shown.iter().any(|(l, _)| *l == legend) {
                    shown.push((legend, color));
                }
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                    .map_err(|x| e(&x))?;
            }
        }
    }
    // One legend for every panel, below them.
    let mut x = 40i32;
    for (label, color) in shown {
        legend
            .draw(&PathElement::new(
                vec![(x, 25), (x + 28, 25)],
                color.stroke_width(3),
            ))
            .map_err(|x| e(&x))?;
        legend
            .draw(&Text::new(label, (x + 36, 17), ("sans-serif", 15)))
            .map_err(|x| e(&x))?;
        x += 70 + i32::try_from(label.len()).unwrap_or(40) * 7;
    }
    root.present().map_err(|x| e(&x))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
