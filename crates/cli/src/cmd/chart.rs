//! Loss curves as SVG pictures, from the coordinator's `metrics.jsonl` files: training loss per
//! round against tokens trained, one line per run, and each run's final validation loss as a
//! marker at its end.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use serde_json::Value;

/// One run's curve.
pub struct Curve {
    pub label: String,
    /// (tokens, training loss) per round.
    pub points: Vec<(f64, f64)>,
    pub val_loss: Option<f64>,
}

/// Reads a coordinator's `metrics.jsonl`.
pub fn read_curve(label: &str, path: &Path) -> anyhow::Result<Curve> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut points = Vec::new();
    let mut val_loss = None;
    for (i, line) in text.lines().enumerate() {
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON line", path.display(), i + 1))?;
        match v.get("type").and_then(Value::as_str) {
            Some("round") => {
                if let (Some(t), Some(l)) = (v["tokens"].as_f64(), v["loss"].as_f64())
                    && l.is_finite()
                {
                    points.push((t, l));
                }
            }
            Some("summary") => val_loss = v["summary"]["val_loss"].as_f64().filter(|l| l.is_finite()),
            _ => {}
        }
    }
    if points.is_empty() {
        anyhow::bail!("{}: no rounds in it (is it a coordinator's metrics.jsonl?)", path.display());
    }
    Ok(Curve { label: label.to_string(), points, val_loss })
}

/// Draws `curves` into an SVG file.
pub fn draw(curves: &[Curve], title: &str, out: &Path) -> anyhow::Result<()> {
    let max_x = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)).fold(1.0, f64::max);
    let losses = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1).chain(c.val_loss));
    let (lo, hi) = losses.fold((f64::MAX, f64::MIN), |(lo, hi), l| (lo.min(l), hi.max(l)));
    let pad = ((hi - lo) * 0.05).max(0.01);
    let root = SVGBackend::new(out, (900, 520)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow::anyhow!("{}: {e}", out.display());
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x * 1.02, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("tokens trained (all workers)")
        .y_desc("loss (nats/byte)")
        .x_label_formatter(&|x| format!("{:.1}M", x / 1e6))
        .draw()
        .map_err(err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let label = match c.val_loss {
            Some(v) => format!("{} (validation {v:.4})", c.label),
            None => c.label.clone(),
        };
        chart
            .draw_series(LineSeries::new(c.points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if let (Some(v), Some(last)) = (c.val_loss, c.points.last()) {
            chart.draw_series(std::iter::once(Circle::new((last.0, v), 5, color.filled()))).map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A bar chart: one bar per (label, value), coloured by group (e.g. GPU model), labelled below.
pub fn draw_bars(bars: &[(String, String, f64)], title: &str, y_desc: &str, out: &Path) -> anyhow::Result<()> {
    use plotters::coord::ranged1d::SegmentValue;
    let n = bars.len().max(1) as u32;
    let max = bars.iter().map(|b| b.2).fold(0.0, f64::max).max(1e-9) * 1.15;
    let groups: Vec<&String> = {
        let mut g: Vec<&String> = bars.iter().map(|b| &b.0).collect();
        g.dedup();
        g
    };
    let root = SVGBackend::new(out, (120 + 110 * n, 520)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow::anyhow!("{}: {e}", out.display());
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..max)
        .map_err(err)?;
    let labels: Vec<String> = bars.iter().map(|b| format!("{} · {}", b.0, b.1)).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_desc)
        .x_labels(n as usize)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .draw()
        .map_err(err)?;
    for (i, (group, _, value)) in bars.iter().enumerate() {
        let color = Palette99::pick(groups.iter().position(|g| *g == group).unwrap_or(0)).to_rgba();
        let i = i as u32;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *value)],
                color.filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{value:.3}"),
                (SegmentValue::CenterOf(i), *value + max * 0.01),
                ("sans-serif", 13),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
