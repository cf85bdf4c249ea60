//! The line view: header, alarm banner, every bench and slot in a grid, the side panel
//! (questions waiting, the selected slot, the large result) and the footer.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{alarm, big, bold, clock, fg, prompt, slot};
use crate::run::event::SlotId;
use crate::run::Stop;
use crate::tui::app::{App, FaultKind, Shown};
use crate::tui::keys::{Action, KEYS};

/// Narrowest slot cell of the compact grid, columns.
const MIN_CELL: u16 = 10;
/// Narrowest slot cell of the roomy grid, columns.
const WIDE_CELL: u16 = 12;

/// Draws the line view over `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let banner = alarm::height(app, area);
    let [head, alarms, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header(frame, head, app);
    alarm::render(frame, alarms, app);
    let side_w = if area.width >= 120 { 46 } else { 31 };
    let [grid_area, side_area] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(side_w)]).areas(body);
    grid(frame, grid_area, app);
    side(frame, side_area, app);
    footer(frame, foot, app);
}

fn header(frame: &mut Frame, area: Rect, app: &App) {
    let who = app.operator.as_deref().unwrap_or("nobody signed in");
    let fpy = app
        .shift
        .first_pass_yield()
        .map_or_else(|| "-".to_string(), |y| format!("{:.0}%", y * 100.0));
    let acked = app.alarms.iter().filter(|r| r.acked).count();
    let mut right = vec![Span::raw(format!(
        "{} graded · {:.0}/h · FPY {fpy} ",
        app.shift.graded,
        app.shift.units_per_hour(app.now)
    ))];
    if let Some(p) = &app.plant {
        right.insert(0, plant(app, p));
    }
    if acked > 0 {
        right.insert(
            0,
            Span::styled(
                format!("⚠ {acked} alarm(s) │ "),
                fg(app, Color::Red).add_modifier(Modifier::BOLD),
            ),
        );
    }
    if app.ended {
        right.insert(0, Span::styled("LINE STOPPED │ ", bold()));
    }
    let right = Line::from(right);
    let left = Line::from(vec![
        Span::styled(
            " BENCHLINE ",
            if app.color {
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
            },
        ),
        Span::styled(format!(" {} ", who), bold()),
        Span::raw(format!("│ {}", app.title)),
    ]);
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(u16::try_from(right.width()).unwrap_or(u16::MAX)),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}

/// The replication to the plant, for the header: how many records wait to be pushed.
fn plant(app: &App, p: &crate::run::event::Replication) -> Span<'static> {
    use crate::run::event::PlantState as S;
    match p.state {
        S::Refused => Span::styled(
            format!("PLANT REFUSED: {} waiting │ ", p.backlog),
            fg(app, Color::Red).add_modifier(Modifier::BOLD),
        ),
        S::Outage if p.backlog > 0 => Span::styled(
            format!("plant down: {} waiting │ ", p.backlog),
            fg(app, Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        S::Outage => Span::styled("plant down │ ", fg(app, Color::Yellow)),
        S::Connecting => Span::raw(format!("plant: connecting, {} waiting │ ", p.backlog)),
        S::Live if p.backlog > 0 => Span::raw(format!("plant: {} waiting │ ", p.backlog)),
        S::Live => Span::raw("plant ✓ │ "),
    }
}

/// The benches shown on one page.
struct Page {
    first: usize,
    last: usize,
    pages: bool,
}

fn grid(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(Line::styled(" Line ", bold()));
    let area = {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        inner
    };
    if app.benches.is_empty() {
        frame.render_widget(
            Paragraph::new("waiting for the jigs to answer…").wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let benches = app.benches.len() as u16;
    let max_slots = app
        .benches
        .iter()
        .map(|b| b.slots.len())
        .max()
        .unwrap_or(1)
        .max(1) as u16;
    let per_bench = area.height / benches.max(1);
    if area.width / max_slots >= WIDE_CELL && per_bench >= 3 {
        roomy(frame, area, app, max_slots, per_bench);
    } else {
        compact(frame, area, app, max_slots);
    }
}

/// Few benches: a heading line per bench (name, jig, fault), then its slots side by side in
/// two or three lines each.
fn roomy(frame: &mut Frame, area: Rect, app: &App, max_slots: u16, per_bench: u16) {
    let lines = (per_bench - 1).min(3);
    let gap = u16::from(per_bench > lines + 1);
    let cell_w = area.width / max_slots;
    let mut y = area.y;
    for (bench, b) in app.benches.iter().enumerate() {
        let name = app.bench_name(bench);
        let heading = match &b.fault {
            Some(f) => Line::styled(
                format!("✖ {name} {}: {}", fault_word(f.kind), f.why),
                fg(app, Color::Red).add_modifier(Modifier::BOLD),
            ),
            None if b.connected => Line::from(vec![
                Span::styled(name, bold()),
                Span::styled(
                    format!("  jig {} · {} · firmware {}", b.serial, b.port, b.firmware),
                    Style::new().add_modifier(Modifier::DIM),
                ),
            ]),
            None => Line::styled(format!("{name}  · no jig"), bold()),
        };
        frame.render_widget(Paragraph::new(heading), Rect::new(area.x, y, area.width, 1));
        for s in 0..b.slots.len() {
            let at = SlotId {
                bench,
                slot: u8::try_from(s).unwrap_or(u8::MAX),
            };
            let rect = Rect::new(
                area.x + s as u16 * cell_w,
                y + 1,
                cell_w.saturating_sub(1),
                lines,
            )
            .intersection(area);
            let cell = slot::cell(
                app,
                at,
                usize::from(rect.width),
                usize::from(lines),
                at == app.selected,
            );
            frame.render_widget(Paragraph::new(cell), rect);
        }
        y += 1 + lines + gap;
    }
}

/// The word for a bench's fault.
fn fault_word(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Lost => "JIG LOST",
        FaultKind::Reset => "JIG RESET",
        FaultKind::Refused => "JIG REFUSED",
        FaultKind::Missing => "JIG MISSING",
    }
}

/// Many slots: a name column and one line per cell (more when there is room), wrapped when a
/// bench has more slots than fit across, paged when the benches do not fit down.
fn compact(frame: &mut Frame, area: Rect, app: &App, max_slots: u16) {
    let name_w = app
        .benches
        .iter()
        .enumerate()
        .map(|(i, _)| app.bench_name(i).chars().count())
        .max()
        .unwrap_or(7)
        .clamp(6, 12) as u16
        + 2;
    let avail = area.width.saturating_sub(name_w).max(1);
    let per_row = (avail / MIN_CELL).clamp(1, max_slots);
    let cell_w = avail / per_row;
    let rows_of = |n: usize| (n as u16).div_ceil(per_row).max(1);
    let bench_rows: Vec<u16> = app.benches.iter().map(|b| rows_of(b.slots.len())).collect();
    let total: u16 = bench_rows.iter().sum::<u16>();
    let lines = (area.height / total.max(1)).clamp(1, 3);
    let page = page(&bench_rows, app.selected.bench, area.height, total);
    let mut y = area.y;
    for (bench, (b, rows)) in app
        .benches
        .iter()
        .zip(&bench_rows)
        .enumerate()
        .take(page.last)
        .skip(page.first)
    {
        let fault = b.fault.is_some();
        let name_style = if fault {
            fg(app, Color::Red).add_modifier(Modifier::BOLD)
        } else {
            bold()
        };
        let name = format!("{}{}", if fault { "✖" } else { " " }, app.bench_name(bench));
        frame.render_widget(
            Paragraph::new(Line::styled(name, name_style)),
            Rect::new(area.x, y, name_w, 1).intersection(area),
        );
        for (row, chunk) in (0..b.slots.len())
            .collect::<Vec<_>>()
            .chunks(usize::from(per_row))
            .enumerate()
        {
            let row_y = y + row as u16 * lines;
            for (i, s) in chunk.iter().enumerate() {
                let at = SlotId {
                    bench,
                    slot: u8::try_from(*s).unwrap_or(u8::MAX),
                };
                let x = area.x + name_w + i as u16 * cell_w;
                let rect = Rect::new(x, row_y, cell_w.saturating_sub(1), lines).intersection(area);
                let cell = slot::cell(
                    app,
                    at,
                    usize::from(rect.width),
                    usize::from(lines),
                    at == app.selected,
                );
                frame.render_widget(Paragraph::new(cell), rect);
            }
        }
        if b.slots.is_empty() {
            let shown = app.shown(SlotId { bench, slot: 0 });
            let text = match &b.fault {
                Some(f) => format!("✖ {}: {}", fault_word(f.kind), f.why),
                None => "· no jig".into(),
            };
            frame.render_widget(
                Paragraph::new(Line::styled(text, slot::style(app, shown, None))),
                Rect::new(area.x + name_w, y, avail, 1).intersection(area),
            );
        }
        y += rows * lines;
    }
    if page.pages && area.height > 0 {
        let text = format!(
            "benches {}-{} of {} · PgUp/PgDn",
            page.first + 1,
            page.last,
            app.benches.len()
        );
        frame.render_widget(
            Paragraph::new(Line::styled(text, Style::new().add_modifier(Modifier::DIM)))
                .right_aligned(),
            Rect::new(area.x, area.bottom() - 1, area.width, 1),
        );
    }
}

/// The page of benches holding `selected` when all do not fit in `height` rows (one line per
/// cell then, and a last row saying which benches show).
fn page(rows: &[u16], selected: usize, height: u16, total: u16) -> Page {
    if total <= height {
        return Page {
            first: 0,
            last: rows.len(),
            pages: false,
        };
    }
    let room = height.saturating_sub(1).max(1);
    let mut first = 0;
    loop {
        let mut used = 0;
        let mut last = first;
        while last < rows.len() && (used + rows[last] <= room || last == first) {
            used += rows[last];
            last += 1;
        }
        if selected < last || last >= rows.len() {
            return Page {
                first,
                last,
                pages: true,
            };
        }
        first = last;
    }
}

fn side(frame: &mut Frame, area: Rect, app: &App) {
    let big_h = if area.height >= 30 { 14 } else { 8 }.min(area.height);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(big_h)]).areas(area);
    if app.asking().is_empty() {
        selected(frame, top, app);
    } else {
        prompt::render(frame, top, app);
    }
    big::render(frame, bottom, app);
}

/// The selected slot in a few lines.
fn selected(frame: &mut Frame, area: Rect, app: &App) {
    let at = app.selected;
    let name = app.bench_name(at.bench);
    let block = Block::bordered().title(Line::styled(format!(" {name}/{} ", at.slot), bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let shown = app.shown(at);
    let mut lines = vec![Line::styled(
        format!(
            "{} {}",
            slot::symbol(shown),
            match shown {
                Shown::Idle => "no jig",
                Shown::Waiting => "waiting for a phone",
                Shown::Testing => "testing",
                Shown::Asking => "waiting for you",
                Shown::Done => "graded: to its bin",
                Shown::Fault(_) => "fault",
            }
        ),
        slot::style(app, shown, app.slot(at)),
    )];
    if let Some(b) = app.benches.get(at.bench) {
        if !b.port.is_empty() {
            lines.push(Line::raw(format!("jig {} {}", b.serial, b.port)));
        }
        if let Some(f) = &b.fault {
            lines.push(Line::styled(f.why.clone(), fg(app, Color::Red)));
        }
    }
    if let Some(p) = app.slot(at).and_then(|s| s.phone.as_ref()) {
        lines.push(Line::raw(format!("IMEI {} {}", p.imei, p.model)));
        let end = p.finished.unwrap_or(app.now);
        lines.push(Line::raw(format!(
            "{} steps done · {}",
            p.steps.len(),
            clock(end.saturating_duration_since(p.started))
        )));
        for r in &p.running {
            lines.push(Line::raw(format!(
                "▶ {} ({}) {}%",
                r.step, r.channel, r.percent
            )));
        }
    }
    lines.push(Line::styled(
        "d: detail",
        Style::new().add_modifier(Modifier::DIM),
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

/// The key of `action` as the key table labels it.
fn label(action: Action) -> &'static str {
    KEYS.iter()
        .find(|b| b.action == action)
        .map_or("", |b| b.label.split(' ').next().unwrap_or(b.label))
}

fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let line = if let Some(level) = app.stopping {
        let n = app.under_test();
        let text = match level {
            Stop::Now => format!("stopping now: {n} phone(s) abandoned, retest them"),
            _ => format!(
                "stopping: {n} phone{} finishing · {}: stop now",
                if n == 1 { "" } else { "s" },
                label(Action::QuitNow)
            ),
        };
        Line::styled(text, fg(app, Color::Yellow).add_modifier(Modifier::BOLD))
    } else if let Some(n) = app.notice() {
        Line::styled(n.to_string(), bold())
    } else {
        let hints = [
            (Action::Answer, "answer"),
            (Action::Help, "help"),
            (Action::Quit, "quit"),
            (Action::NextWaiting, "next"),
            (Action::Detail, "detail"),
            (Action::Metrics, "metrics"),
            (Action::Lookup, "lookup"),
            (Action::SignIn, "sign in"),
            (Action::Acknowledge, "ack"),
        ];
        let mut spans = Vec::new();
        let mut used = 0;
        for (a, what) in hints {
            let key = format!(" {} ", label(a));
            let what = format!(" {what} ");
            let w = key.chars().count() + what.chars().count();
            if used + w > usize::from(area.width) {
                break;
            }
            used += w;
            spans.push(Span::styled(
                key,
                Style::new().add_modifier(Modifier::REVERSED),
            ));
            spans.push(Span::raw(what));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_the_selected_bench() {
        let rows = [1u16; 20];
        let p = page(&rows, 0, 30, 20);
        assert!(!p.pages);
        let p = page(&rows, 0, 10, 20);
        assert_eq!((p.first, p.last), (0, 9));
        let p = page(&rows, 12, 10, 20);
        assert_eq!((p.first, p.last), (9, 18));
        let p = page(&rows, 19, 10, 20);
        assert_eq!((p.first, p.last), (18, 20));
    }
}
