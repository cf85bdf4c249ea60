//! The slot detail overlay: the current or last phone's steps and measurements with their
//! limits and verdicts, and the battery test's voltage and current over time (DCIR samples).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{bold, fg, popup};
use crate::grade::Verdict;
use crate::run::record::{Measurement, StepStatus};
use crate::tui::app::{App, Phone};

/// Draws the detail of the selected slot.
pub fn render(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let at = app.selected;
    let title = format!(
        "{}/{} detail (↑↓ scroll · Esc: close)",
        app.bench_name(at.bench),
        at.slot
    );
    let inner = popup(frame, area, app, &title, Color::Cyan);
    let Some(phone) = app.slot(at).and_then(|s| s.phone.as_ref()) else {
        frame.render_widget(
            Paragraph::new("No phone has been tested in this slot yet."),
            inner,
        );
        return;
    };
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Paragraph::new(heading(app, phone)).wrap(Wrap { trim: true }),
        head,
    );
    let (table_area, chart_area) = if body.width >= 120 {
        let [a, b] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
            .areas(body);
        (a, b)
    } else {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
        (a, b)
    };
    steps(frame, table_area, app, phone, scroll);
    charts(frame, chart_area, app, phone);
}

fn heading(app: &App, p: &Phone) -> Vec<Line<'static>> {
    let mut first = vec![
        Span::styled(format!("IMEI {} ", p.imei), bold()),
        Span::raw(format!("model {}", p.model)),
    ];
    if p.removed {
        first.push(Span::raw(" · taken out during its test"));
    }
    if let Some(g) = &p.graded {
        let plan = &g.record.plan;
        first.push(Span::raw(format!(
            " · plan {} {} ({})",
            plan.id,
            plan.version,
            crate::store::policy::short_hash(&plan.hash)
        )));
        if g.record.jig.simulated {
            first.push(Span::styled(
                " · SIMULATED jig",
                fg(app, Color::Magenta).add_modifier(Modifier::BOLD),
            ));
        }
    }
    let second = match &p.graded {
        Some(g) => Line::from(vec![
            Span::styled(
                format!("{} → bin {}", g.disposition.as_str(), g.bin),
                fg(app, super::big::color(g.disposition)).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " · functional {} · cosmetic {} · {}",
                g.record.grade.functional,
                g.record.grade.cosmetic.as_deref().unwrap_or("-"),
                g.record.grade.reasons.join("; ")
            )),
        ]),
        None if p.running.is_empty() => Line::raw("under test"),
        None => Line::raw(format!(
            "under test: {}",
            p.running
                .iter()
                .map(|r| format!("{} {}%", r.step, r.percent))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    vec![Line::from(first), second]
}

fn value(m: &Measurement) -> String {
    match m.number() {
        Some(v) if v.is_infinite() => "open".into(),
        Some(v) => format!("{} {}", trim(v), m.unit),
        None => match &m.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn verdict(app: &App, v: Option<Verdict>) -> Span<'static> {
    match v {
        Some(Verdict::Pass) => Span::styled("✔ pass", fg(app, Color::Green)),
        Some(Verdict::Marginal) => Span::styled("~ marginal", fg(app, Color::Yellow)),
        Some(Verdict::Fail) => {
            Span::styled("✖ FAIL", fg(app, Color::Red).add_modifier(Modifier::BOLD))
        }
        None => Span::raw(""),
    }
}

fn steps(frame: &mut Frame, area: Rect, app: &App, p: &Phone, scroll: u16) {
    let mut rows: Vec<Row> = Vec::new();
    for s in &p.steps {
        let status = match s.status {
            StepStatus::Measured => "measured",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        if s.measurements.is_empty() {
            let why = s.errors.last().cloned().unwrap_or_default();
            rows.push(Row::new(vec![
                Line::raw(s.id.clone()),
                Line::raw(status),
                Line::raw(why),
            ]));
        }
        for (i, m) in s.measurements.iter().enumerate() {
            let bound = |b: Option<f64>| b.map(trim).unwrap_or_default();
            rows.push(Row::new(vec![
                Line::raw(if i == 0 { s.id.clone() } else { String::new() }),
                Line::raw(if i == 0 { status } else { "" }),
                Line::raw(m.name.clone()),
                Line::raw(value(m)),
                Line::raw(bound(m.min)),
                Line::raw(bound(m.max)),
                Line::from(verdict(app, m.verdict)),
            ]));
        }
    }
    for r in &p.running {
        rows.push(Row::new(vec![
            Line::raw(r.step.clone()),
            Line::raw(format!("running {}%", r.percent)),
        ]));
    }
    let rows: Vec<Row> = rows.into_iter().skip(usize::from(scroll)).collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new([
            "step",
            "status",
            "measurement",
            "value",
            "min",
            "max",
            "verdict",
        ])
        .style(bold()),
    )
    .block(Block::bordered().title(" Steps and measurements "));
    frame.render_widget(table, area);
}

/// Bounds of `values` with a little room around them.
fn bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.1).max(0.01);
    [lo - pad, hi + pad]
}

fn charts(frame: &mut Frame, area: Rect, app: &App, p: &Phone) {
    if p.samples.is_empty() {
        let block = Block::bordered().title(" Battery DCIR pulse ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new(
                "No battery samples for this phone: its DCIR step has not run yet, or the jig \
                 sent no readings.",
            )
            .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let volts: Vec<(f64, f64)> = p
        .samples
        .iter()
        .map(|s| (f64::from(s.t_ms) / 1000.0, f64::from(s.voltage_v)))
        .collect();
    let amps: Vec<(f64, f64)> = p
        .samples
        .iter()
        .map(|s| (f64::from(s.t_ms) / 1000.0, f64::from(s.current_a)))
        .collect();
    let t_end = volts.last().map_or(1.0, |v| v.0).max(0.001);
    let [top, bottom] = if area.width >= 2 * area.height + 20 {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    };
    frame.render_widget(chart(app, &volts, "voltage", "V", Color::Green, t_end), top);
    frame.render_widget(
        chart(app, &amps, "current", "A", Color::Yellow, t_end),
        bottom,
    );
}

/// One quantity over time.
fn chart<'a>(
    app: &App,
    data: &'a [(f64, f64)],
    name: &str,
    unit: &str,
    color: Color,
    t_end: f64,
) -> Chart<'a> {
    let [lo, hi] = bounds(data.iter().map(|d| d.1));
    let dataset = Dataset::default()
        .name(format!("{name} ({unit})"))
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(fg(app, color))
        .data(data);
    Chart::new(vec![dataset])
        .block(Block::bordered().title(format!(" Battery {name} ({unit}) ")))
        .x_axis(
            Axis::default()
                .title("t (s)")
                .bounds([0.0, t_end])
                .labels([Line::raw("0"), Line::raw(format!("{t_end:.1}"))]),
        )
        .y_axis(
            Axis::default()
                .title(unit.to_string())
                .bounds([lo, hi])
                .labels([Line::raw(format!("{lo:.2}")), Line::raw(format!("{hi:.2}"))]),
        )
        .legend_position(None)
}
