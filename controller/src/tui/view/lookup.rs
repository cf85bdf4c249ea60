//! The device lookup overlay: an IMEI typed or scanned, and its history, scrollable.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{bold, fg, popup};
use crate::tui::app::{App, Lookup};

/// Draws the lookup overlay.
pub fn render(frame: &mut Frame, area: Rect, app: &App, l: &Lookup) {
    let rect = area.inner(ratatui::layout::Margin::new(2, 1));
    let inner = popup(
        frame,
        rect,
        app,
        "Device lookup · Enter: look up · ↑↓ PgUp PgDn: scroll · Esc: close",
        Color::Cyan,
    );
    let [input, status, result] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("IMEI: ", bold()),
            Span::raw(l.input.clone()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
        ])),
        input,
    );
    let status_line = if let Some(e) = &l.error {
        Line::styled(
            format!("✖ {e}"),
            fg(app, Color::Red).add_modifier(Modifier::BOLD),
        )
    } else if let Some(p) = &l.pending {
        Line::raw(format!("looking up {p}…"))
    } else if l.result.is_none() {
        Line::raw("type or scan an IMEI, then Enter")
    } else {
        Line::raw("")
    };
    frame.render_widget(
        Paragraph::new(status_line).wrap(Wrap { trim: true }),
        status,
    );
    if let Some((_, text)) = &l.result {
        frame.render_widget(
            Paragraph::new(text.as_str())
                .wrap(Wrap { trim: false })
                .scroll((l.scroll, 0)),
            result,
        );
    }
}
