//! Plots with plotters, as SVG and PNG: the per-CWE secure ratio in the layout of the paper's
//! Figure 6 (base vs best tuned model, one panel per language) and training loss curves. Text
//! is laid out with the shipped DejaVu Sans font, so no system font is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::load::{Counts, RunData};
use super::manifest::RunMethod;
use super::tables::LANGUAGES;
use super::ReportError;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BASE_COLOR: RGBColor = RGBColor(120, 120, 120);
const TUNED_COLOR: RGBColor = RGBColor(31, 119, 180);

fn register_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    ok.then_some(()).ok_or_else(|| ReportError::Plot {
        path: PathBuf::from("assets/fonts/DejaVuSans.ttf"),
        reason: "the embedded font does not load".into(),
    })
}

/// One run's secure ratio per CWE in one language.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub label: String,
    pub run: String,
    pub per_cwe: BTreeMap<u32, Counts>,
    /// secure / valid over all of the language's scenarios.
    pub overall_secure_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    pub language: String,
    pub title: String,
    pub base: Option<Series>,
    pub tuned: Option<Series>,
}

fn series(run: &RunData, lang: &str) -> Option<Series> {
    Some(Series {
        label: run.manifest.label(),
        run: run.dir.display().to_string(),
        per_cwe: run.per_language_cwe.get(lang)?.clone(),
        overall_secure_ratio: run.per_language.get(lang)?.secure_ratio(),
    })
}

/// Per language: the tuned run (outside the size study) with the highest secure ratio, ties
/// broken by valid ratio then label, beside the base run of the same model.
pub fn figure6_panels(runs: &[RunData]) -> Vec<Panel> {
    LANGUAGES
        .iter()
        .map(|&(lang, shown)| {
            let best = runs
                .iter()
                .filter(|r| r.manifest.method != RunMethod::Base && r.manifest.size.is_none())
                .filter_map(|r| {
                    let c = r.per_language.get(lang)?;
                    Some((r, c.secure_ratio()?, c.valid_ratio().unwrap_or(0.0)))
                })
                .max_by(|a, b| {
                    a.1.total_cmp(&b.1)
                        .then(a.2.total_cmp(&b.2))
                        .then_with(|| b.0.manifest.label().cmp(&a.0.manifest.label()))
                })
                .map(|(r, _, _)| r);
            let base = best.and_then(|t| {
                runs.iter().find(|r| {
                    r.manifest.method == RunMethod::Base && r.manifest.model == t.manifest.model
                })
            });
            Panel {
                language: lang.into(),
                title: format!("{shown} scenarios"),
                base: base.and_then(|r| series(r, lang)),
                tuned: best.and_then(|r| series(r, lang)),
            }
        })
        .collect()
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> ReportError + '_ {
    move |e| ReportError::Plot {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let cwes: Vec<u32> = panel
        .base
        .iter()
        .chain(panel.tuned.iter())
        .flat_map(|s| s.per_cwe.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = cwes.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 24))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        // Head room above 100% keeps the legend off the bars.
        .build_cartesian_2d(0.0..n, 0.0..125.0)?;
    let label_of = |x: &f64| {
        let i = x.floor() as usize;
        match cwes.get(i) {
            Some(cwe) if (x - x.floor() - 0.5).abs() < 1e-6 => format!("CWE-{cwe}"),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cwes.len().max(1) * 2 + 1)
        .x_label_formatter(&label_of)
        .y_labels(6)
        .y_label_formatter(&|y| {
            if *y <= 100.0 {
                format!("{y:.0}")
            } else {
                String::new()
            }
        })
        .y_desc("secure ratio (%)")
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .draw()?;
    if cwes.is_empty() {
        area.draw_text(
            "no judged samples for this language",
            &(FONT, 16).into_text_style(area),
            (60, 60),
        )?;
        return Ok(());
    }
    for (series, color, offset) in [
        (&panel.base, BASE_COLOR, 0.1),
        (&panel.tuned, TUNED_COLOR, 0.5),
    ] {
        let Some(s) = series else { continue };
        let bars = cwes.iter().enumerate().filter_map(|(i, cwe)| {
            let ratio = s.per_cwe.get(cwe)?.secure_ratio()?;
            let x = i as f64 + offset;
            Some(Rectangle::new(
                [(x, 0.0), (x + 0.4, ratio * 100.0)],
                color.filled(),
            ))
        });
        chart
            .draw_series(bars)?
            .label(s.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

fn draw_figure6<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let root = root.titled(
        "Secure ratio per CWE: pre-trained vs best fine-tuned model",
        (FONT, 26),
    )?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present()
}

fn draw_losses<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    runs: &[(String, Vec<(u64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let max_step = runs
        .iter()
        .flat_map(|(_, l)| l.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1);
    let (lo, hi) = runs
        .iter()
        .flat_map(|(_, l)| l.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0f64.max(hi))
    };
    let pad = (hi - lo) * 0.05;
    let mut chart = ChartBuilder::on(&root)
        .caption("Training loss", (FONT, 26))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0u64..max_step, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("optimizer step")
        .y_desc("loss")
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .draw()?;
    for (i, (label, losses)) in runs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                losses.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()
}

const FIG6_SIZE: (u32, u32) = (1400, 560);
const LOSS_SIZE: (u32, u32) = (1000, 600);

/// Writes `STEM.svg` and `STEM.png` in `out` with one drawing routine for both backends.
fn write_both(
    out: &Path,
    stem: &str,
    size: (u32, u32),
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
    draw_png: impl Fn(DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<Vec<PathBuf>, ReportError> {
    register_font()?;
    let svg_path = out.join(format!("{stem}.svg"));
    let mut svg = String::new();
    draw_svg(SVGBackend::with_string(&mut svg, size).into_drawing_area())
        .map_err(plot_err(&svg_path))?;
    crate::util::fsx::write_atomic(&svg_path, svg.as_bytes()).map_err(|e| ReportError::Plot {
        path: svg_path.clone(),
        reason: e.to_string(),
    })?;
    let png_path = out.join(format!("{stem}.png"));
    // plotters picks the encoder from the extension: the temporary name keeps ".png".
    let tmp = out.join(format!(".{stem}.tmp-{}.png", std::process::id()));
    draw_png(BitMapBackend::new(&tmp, size).into_drawing_area()).map_err(plot_err(&png_path))?;
    std::fs::rename(&tmp, &png_path).map_err(|source| ReportError::Io {
        path: png_path.clone(),
        source,
    })?;
    Ok(vec![svg_path, png_path])
}

pub fn write_figure6(out: &Path, panels: &[Panel]) -> Result<Vec<PathBuf>, ReportError> {
    write_both(
        out,
        "figure6-per-cwe",
        FIG6_SIZE,
        |a| draw_figure6(a, panels).map_err(|e| format!("{e:?}")),
        |a| draw_figure6(a, panels).map_err(|e| format!("{e:?}")),
    )
}

/// The loss curves of every run with training metrics; no files when there are none.
pub fn write_losses(out: &Path, runs: &[RunData]) -> Result<Vec<PathBuf>, ReportError> {
    let curves: Vec<(String, Vec<(u64, f64)>)> = runs
        .iter()
        .filter(|r| !r.losses.is_empty())
        .map(|r| (r.manifest.label(), r.losses.clone()))
        .collect();
    if curves.is_empty() {
        return Ok(Vec::new());
    }
    write_both(
        out,
        "loss-curves",
        LOSS_SIZE,
        |a| draw_losses(a, &curves).map_err(|e| format!("{e:?}")),
        |a| draw_losses(a, &curves).map_err(|e| format!("{e:?}")),
    )
}
