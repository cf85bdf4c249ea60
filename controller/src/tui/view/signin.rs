//! The sign-in screen: an operator ID typed or scanned (a scanner types it, then Enter).

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{bold, centered, fg, popup};
use crate::tui::app::{App, Overlay};

/// Draws the sign-in screen (a popup at a shift change).
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Overlay::SignIn(s) = &app.overlay else {
        return;
    };
    let rect = centered(area, 60, 10);
    let (title, first) = match &app.operator {
        None => (format!("Benchline · {}", app.title), true),
        Some(_) => ("Shift change: sign the next operator in".to_string(), false),
    };
    let inner = popup(frame, rect, app, &title, Color::Cyan);
    let mut lines = vec![
        Line::raw("Scan your badge or type your operator ID, then press Enter."),
        Line::raw(""),
        Line::from(vec![
            Span::styled("Operator ID: ", bold()),
            Span::raw(s.input.clone()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
        ]),
        Line::raw(""),
    ];
    if let Some(e) = &s.error {
        lines.push(Line::styled(
            format!("✖ {e}"),
            fg(app, Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    match (&app.operator, first) {
        (Some(now), false) => lines.push(Line::raw(format!(
            "Signed in now: {now}. The line goes on. Esc: cancel."
        ))),
        _ => lines.push(Line::raw(
            "The line does not answer questions until someone signs in.",
        )),
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
