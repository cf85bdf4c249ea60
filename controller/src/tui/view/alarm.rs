//! The alarm banner: alarms not yet acknowledged, each naming what went wrong and what to do.
//! The bell is rung by the loop, never here.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui::Frame;

use super::{bold, fg};
use crate::tui::app::App;

/// Alarms shown at most in the banner (the others are counted).
const SHOWN: usize = 3;

/// Rows the banner takes in `area` (0 without alarms to show).
pub fn height(app: &App, area: Rect) -> u16 {
    let n = app.alarms.iter().filter(|r| !r.acked).count();
    if n == 0 {
        return 0;
    }
    let rows = n.min(SHOWN) as u16 * 2 + 2 + u16::from(n > SHOWN);
    rows.min(area.height / 2)
}

/// Draws the banner.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let open: Vec<_> = app.alarms.iter().filter(|r| !r.acked).collect();
    let red = fg(app, Color::Red).add_modifier(Modifier::BOLD);
    let block = Block::bordered()
        .border_type(BorderType::Thick)
        .border_style(red)
        .title(Line::styled(format!(" ⚠ ALARM ({}) ", open.len()), red))
        .title_bottom(Line::styled(" a: acknowledge ", bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    for r in open.iter().take(SHOWN) {
        let bench = r
            .alarm
            .bench
            .map(|b| app.bench_name(b))
            .filter(|name| !r.alarm.what.contains(name.as_str()))
            .map(|name| format!("{name}: "))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled("⚠ ", red),
            Span::styled(format!("{bench}{}", r.alarm.what), bold()),
        ]));
        lines.push(Line::raw(format!("  → {}", r.alarm.fix)));
    }
    if open.len() > SHOWN {
        lines.push(Line::raw(format!("  and {} more", open.len() - SHOWN)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
