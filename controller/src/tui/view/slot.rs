//! One slot's cell on the line view: its state by symbol and colour, in one to three lines.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

use super::big::color;
use super::{clock, fg, tail};
use crate::run::event::SlotId;
use crate::tui::app::{App, FaultKind, Phone, Shown, Slot};

/// The symbol of a state (states are told by symbol as well as colour).
pub fn symbol(shown: Shown) -> &'static str {
    match shown {
        Shown::Idle => "·",
        Shown::Waiting => "○",
        Shown::Testing => "▶",
        Shown::Asking => "?",
        Shown::Done => "✔",
        Shown::Fault(_) => "✖",
    }
}

/// The style of a state.
pub fn style(app: &App, shown: Shown, slot: Option<&Slot>) -> Style {
    match shown {
        Shown::Idle => fg(app, Color::DarkGray),
        Shown::Waiting => fg(app, Color::Gray),
        Shown::Testing => fg(app, Color::Cyan),
        Shown::Asking => fg(app, Color::Yellow).add_modifier(Modifier::BOLD),
        Shown::Done => {
            let d = slot
                .and_then(|s| s.phone.as_ref())
                .and_then(|p| p.graded.as_ref())
                .map(|g| g.disposition);
            d.map_or(Style::new(), |d| fg(app, color(d)))
                .add_modifier(Modifier::BOLD)
        }
        Shown::Fault(_) => fg(app, Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// What the slot is doing, in a few words.
fn summary(shown: Shown, slot: Option<&Slot>) -> String {
    let phone = slot.and_then(|s| s.phone.as_ref());
    match shown {
        Shown::Idle => "no jig".into(),
        Shown::Waiting => "place a phone".into(),
        Shown::Testing => phone
            .and_then(|p| p.running.last())
            .map_or_else(|| "identifying".to_string(), |r| r.step.clone()),
        Shown::Asking => "ANSWER".into(),
        Shown::Done => phone
            .and_then(|p| p.graded.as_ref())
            .map(|g| {
                let grade = g.record.grade.marketplace.as_deref().unwrap_or("");
                format!("{} {grade}", g.bin)
            })
            .unwrap_or_default(),
        Shown::Fault(kind) => match kind {
            FaultKind::Lost => "JIG LOST".into(),
            FaultKind::Reset => "JIG RESET".into(),
            FaultKind::Refused => "REFUSED".into(),
            FaultKind::Missing => "MISSING".into(),
        },
    }
}

/// The progress of the phone's latest step, percent.
fn percent(app: &App, phone: &Phone) -> u8 {
    phone.running.last().map_or(0, |r| {
        let by_time = if r.expected_s > 0.0 {
            (app.now.saturating_duration_since(r.started).as_secs_f64() / r.expected_s * 100.0)
                .min(99.0) as u8
        } else {
            0
        };
        r.percent.max(by_time)
    })
}

/// A progress bar of `width` columns.
pub fn bar(percent: u8, width: usize) -> String {
    let filled = (usize::from(percent.min(100)) * width)
        .div_ceil(100)
        .min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// The second line: progress, the question, the outcome or the fault.
fn detail(app: &App, at: SlotId, shown: Shown, slot: Option<&Slot>, width: usize) -> String {
    let phone = slot.and_then(|s| s.phone.as_ref());
    match shown {
        Shown::Idle => String::new(),
        Shown::Waiting => phone
            .and_then(|p| p.graded.as_ref())
            .map(|g| format!("last: {}", g.bin))
            .unwrap_or_default(),
        Shown::Testing => phone.map_or_else(String::new, |p| {
            let pc = percent(app, p);
            let elapsed = clock(app.now.saturating_duration_since(p.started));
            let room = width.saturating_sub(elapsed.len() + 6).max(1);
            format!("{} {pc:>2}% {elapsed}", bar(pc, room))
        }),
        Shown::Asking => slot
            .and_then(|s| s.question.as_ref())
            .map(|q| q.text.clone())
            .unwrap_or_default(),
        Shown::Done => phone
            .and_then(|p| p.graded.as_ref())
            .map(|g| {
                let c = g.record.grade.cosmetic.as_deref().unwrap_or("-");
                format!("{} · cosmetic {c}", g.disposition.as_str())
            })
            .unwrap_or_default(),
        Shown::Fault(_) => app
            .benches
            .get(at.bench)
            .and_then(|b| b.fault.as_ref())
            .map(|f| f.why.clone())
            .unwrap_or_default(),
    }
}

/// The third line: the phone.
fn phone_line(slot: Option<&Slot>) -> String {
    slot.and_then(|s| s.phone.as_ref())
        .filter(|p| !p.imei.is_empty())
        .map(|p| {
            let gone = if p.removed { " (taken out)" } else { "" };
            format!("{} {}{gone}", tail(&p.imei, 6), p.model)
        })
        .unwrap_or_default()
}

/// The cell of slot `at` in `lines` lines of `width` columns; `selected` is highlighted.
pub fn cell(
    app: &App,
    at: SlotId,
    width: usize,
    lines: usize,
    selected: bool,
) -> Vec<Line<'static>> {
    let slot = app.slot(at);
    let shown = app.shown(at);
    let style = style(app, shown, slot);
    let mark = if selected { "▸" } else { " " };
    let head = format!(
        "{mark}{} {} {}",
        symbol(shown),
        at.slot,
        summary(shown, slot)
    );
    let head_style = if selected {
        style.add_modifier(Modifier::REVERSED)
    } else {
        style
    };
    let inner = width.saturating_sub(3);
    let second = detail(app, at, shown, slot, inner);
    match lines {
        0 => Vec::new(),
        1 => {
            let phone = slot.and_then(|s| s.phone.as_ref());
            let short = match shown {
                Shown::Testing => phone.map_or_else(String::new, |p| {
                    let step = p.running.last().map_or("", |r| r.step.as_str());
                    format!("{}% {step}", percent(app, p))
                }),
                Shown::Asking => "ANSWER".into(),
                Shown::Waiting => "empty".into(),
                _ => summary(shown, slot),
            };
            vec![Line::styled(
                format!("{mark}{}{} {short}", symbol(shown), at.slot),
                head_style,
            )]
        }
        n => {
            let mut out = vec![
                Line::styled(head, head_style),
                Line::styled(
                    format!("   {second}"),
                    style.remove_modifier(Modifier::BOLD),
                ),
            ];
            if n >= 3 {
                out.push(Line::raw(format!("   {}", phone_line(slot))));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(0, 4), "░░░░");
        assert_eq!(bar(50, 4), "██░░");
        assert_eq!(bar(100, 4), "████");
        assert_eq!(bar(1, 4), "█░░░");
    }
}
