//! Rendering: a pure function of `&App` onto a ratatui `Frame` (no I/O, no clock).
//!
//! One file per part of the screen: [`line`](mod@line) (header, grid, side panel, footer), [`slot`]
//! (one slot's cell), [`prompt`], [`alarm`], [`big`] (the large result), and the overlays
//! [`metrics`], [`lookup`], [`detail`], [`help`], [`signin`].

pub mod alarm;
pub mod big;
pub mod detail;
pub mod help;
pub mod line;
pub mod lookup;
pub mod metrics;
pub mod prompt;
pub mod signin;
pub mod slot;

use std::time::Duration;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Confirm, Overlay};

/// Draws the whole screen for `app`.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if matches!(app.overlay, Overlay::SignIn(_)) && app.operator.is_none() {
        signin::render(frame, area, app);
        return;
    }
    line::render(frame, area, app);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help(scroll) => help::render(frame, area, app, *scroll),
        Overlay::Metrics => metrics::render(frame, area, app),
        Overlay::Lookup(l) => lookup::render(frame, area, app, l),
        Overlay::Detail(scroll) => detail::render(frame, area, app, *scroll),
        Overlay::SignIn(_) => signin::render(frame, area, app),
        Overlay::Confirm(c) => confirm(frame, area, app, *c),
    }
    if app.ended && app.stopping.is_none() {
        ended(frame, area, app);
    }
}

/// A foreground colour, or nothing under `NO_COLOR`.
pub fn fg(app: &App, color: Color) -> Style {
    if app.color {
        Style::new().fg(color)
    } else {
        Style::new()
    }
}

/// Bold.
pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// A centred rectangle of at most `width` x `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// A bordered popup, cleared underneath; returns its inner area.
pub fn popup(frame: &mut Frame, area: Rect, app: &App, title: &str, color: Color) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(fg(app, color))
        .title(Line::styled(format!(" {title} "), bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// `m:ss`, or `h:mm:ss` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The last `n` characters of an IMEI (what an operator compares with a label).
pub fn tail(imei: &str, n: usize) -> String {
    let count = imei.chars().count();
    if count <= n {
        imei.to_string()
    } else {
        format!("…{}", imei.chars().skip(count - n).collect::<String>())
    }
}

fn confirm(frame: &mut Frame, area: Rect, app: &App, c: Confirm) {
    let n = app.under_test();
    let (title, text) = match c {
        Confirm::Drain => (
            "Stop the line?",
            format!(
                "{n} phone{} under test. Stop taking new phones and let {} finish?",
                if n == 1 { " is" } else { "s are" },
                if n == 1 { "it" } else { "them" }
            ),
        ),
        Confirm::Now => (
            "Stop now?",
            format!("{n} phone(s) under test will be abandoned: put them through again (retest)."),
        ),
    };
    let rect = centered(area, 52, 7);
    let inner = popup(frame, rect, app, title, Color::Yellow);
    let lines = vec![
        Line::raw(text),
        Line::raw(""),
        Line::styled("y / Enter: yes     n / Esc: no", bold()),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

fn ended(frame: &mut Frame, area: Rect, app: &App) {
    let rect = centered(area, 48, 6);
    let inner = popup(frame, rect, app, "The line stopped", Color::Cyan);
    let lines = vec![
        Line::raw(format!("{} phone(s) graded this shift.", app.shift.graded)),
        Line::raw(format!("Log: {}", app.log_file.display())),
        Line::styled("Press any key to leave.", bold()),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
