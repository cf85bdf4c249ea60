//! The questions waiting for the operator: the highlighted one with its numbered choices, the
//! others one line each.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{bold, fg, tail};
use crate::tui::app::App;

/// Draws the questions waiting.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let asking = app.asking();
    let block = Block::bordered()
        .border_style(fg(app, Color::Yellow))
        .title(Line::styled(
            format!(" ? Waiting for you ({}) ", asking.len()),
            fg(app, Color::Yellow).add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::raw(" 1-9 answer · Tab next "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let focused = app.focused_question().map(|q| (q.at, q.prompt.clone()));
    let mut lines: Vec<Line> = Vec::new();
    for at in asking {
        let Some(q) = app.slot(at).and_then(|s| s.question.as_ref()) else {
            continue;
        };
        let place = format!("{}/{}", app.bench_name(at.bench), at.slot);
        if focused.as_ref() == Some(&(at, q.prompt.clone())) {
            lines.push(Line::styled(
                format!("▸ {place} · {} {}", tail(&q.imei, 6), q.model),
                bold().add_modifier(Modifier::REVERSED),
            ));
            lines.push(Line::styled(q.text.clone(), bold()));
            for (i, c) in q.choices.iter().enumerate().take(9) {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!(" {} ", i + 1),
                        fg(app, Color::Yellow).add_modifier(Modifier::BOLD | Modifier::REVERSED),
                    ),
                    Span::raw(format!(" {c}")),
                ]));
            }
        } else {
            lines.push(Line::styled(
                format!("  {place}: {}", q.text),
                Style::new().add_modifier(Modifier::DIM),
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
