//! The shift's line metrics overlay (the arithmetic is in `tui::metrics`).

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::big::color;
use super::{bold, centered, clock, fg, popup};
use crate::grade::Disposition;
use crate::tui::app::App;

/// Steps listed among the top failing.
const TOP: usize = 5;

/// Draws the metrics overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rect = centered(area, 70, 22);
    let inner = popup(
        frame,
        rect,
        app,
        "Line metrics for the shift (m: close)",
        Color::Cyan,
    );
    let s = &app.shift;
    let bar_w = usize::from(inner.width.saturating_sub(24)).min(30);
    let most = s.dispositions.values().copied().max().unwrap_or(0).max(1);
    let mut lines = vec![
        Line::from(vec![
            Span::raw("Shift time     "),
            Span::styled(clock(app.now.saturating_duration_since(s.started)), bold()),
        ]),
        Line::from(vec![
            Span::raw("Graded         "),
            Span::styled(s.graded.to_string(), bold()),
        ]),
        Line::from(vec![
            Span::raw("Units per hour "),
            Span::styled(format!("{:.1}", s.units_per_hour(app.now)), bold()),
        ]),
        Line::from(vec![
            Span::raw("First-pass     "),
            Span::styled(
                s.first_pass_yield()
                    .map_or_else(|| "-".to_string(), |y| format!("{:.1} %", y * 100.0)),
                bold(),
            ),
            Span::raw(format!(
                "  ({} of {} devices tested for the first time)",
                s.first_pass, s.first_graded
            )),
        ]),
        Line::raw(""),
        Line::styled("Dispositions", bold()),
    ];
    for d in Disposition::ALL {
        let n = s.dispositions.get(&d).copied().unwrap_or(0);
        let w = (n as usize * bar_w).div_ceil(most as usize);
        lines.push(Line::from(vec![
            Span::raw(format!("  {:<8}", d.as_str())),
            Span::styled(format!("{:>5} ", n), bold()),
            Span::styled("█".repeat(w), fg(app, color(d))),
        ]));
    }
    lines.push(Line::raw(""));
    let market = if s.marketplace.is_empty() {
        "none yet".to_string()
    } else {
        s.marketplace
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    lines.push(Line::from(vec![
        Span::styled("Marketplace grades ", bold()),
        Span::raw(market),
    ]));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Top failing steps", bold()));
    let top = s.top_failing(TOP);
    if top.is_empty() {
        lines.push(Line::raw("  none failed"));
    }
    for (i, (step, n)) in top.iter().enumerate() {
        lines.push(Line::raw(format!("  {}. {step:<24} {n}", i + 1)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
