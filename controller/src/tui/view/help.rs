//! The help overlay: every key, from the same table that dispatches them, and the log file.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{bold, popup};
use crate::tui::app::App;
use crate::tui::keys::{Context, KEYS};

/// Draws the help overlay, scrolled `scroll` lines (at most to its end).
pub fn render(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let inner = popup(
        frame,
        area,
        app,
        "Keys (? or Esc: close · ↑↓: scroll)",
        Color::Cyan,
    );
    let mut lines = Vec::new();
    for context in [Context::Line, Context::Confirm, Context::Typing] {
        lines.push(Line::styled(context.heading(), bold()));
        for b in KEYS.iter().filter(|b| b.context == context) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<10}", b.label), bold()),
                Span::raw(b.help),
            ]));
        }
    }
    lines.push(Line::raw(format!("Log file: {}", app.log_file.display())));
    let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let scroll = scroll.min(total.saturating_sub(inner.height));
    let more = total > inner.height + scroll;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
    if more && inner.height > 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("↓ more", bold())).right_aligned(),
            Rect::new(inner.x, inner.bottom() - 1, inner.width, 1),
        );
    }
}
