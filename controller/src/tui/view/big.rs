//! Large text readable from a step away: a 3x5 block font, and the panel that shows the bin
//! and grade of the graded phone in focus.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{bold, fg, tail};
use crate::grade::Disposition;
use crate::tui::app::App;

/// Rows of a large character.
pub const HEIGHT: u16 = 5;
/// Columns a large character takes, with its gap.
pub const ADVANCE: u16 = 4;

/// The glyph of `c` (upper case), five rows of three columns, `#` lit.
fn glyph(c: char) -> [&'static str; 5] {
    match c.to_ascii_uppercase() {
        'A' => ["###", "# #", "###", "# #", "# #"],
        'B' => ["## ", "# #", "## ", "# #", "## "],
        'C' => ["###", "#  ", "#  ", "#  ", "###"],
        'D' => ["## ", "# #", "# #", "# #", "## "],
        'E' => ["###", "#  ", "## ", "#  ", "###"],
        'F' => ["###", "#  ", "## ", "#  ", "#  "],
        'G' => ["###", "#  ", "# #", "# #", "###"],
        'H' => ["# #", "# #", "###", "# #", "# #"],
        'I' => ["###", " # ", " # ", " # ", "###"],
        'J' => ["  #", "  #", "  #", "# #", "###"],
        'K' => ["# #", "# #", "## ", "# #", "# #"],
        'L' => ["#  ", "#  ", "#  ", "#  ", "###"],
        'M' => ["# #", "###", "###", "# #", "# #"],
        'N' => ["## ", "# #", "# #", "# #", "# #"],
        'O' => ["###", "# #", "# #", "# #", "###"],
        'P' => ["###", "# #", "###", "#  ", "#  "],
        'Q' => ["###", "# #", "# #", "###", "  #"],
        'R' => ["## ", "# #", "## ", "# #", "# #"],
        'S' => ["###", "#  ", "###", "  #", "###"],
        'T' => ["###", " # ", " # ", " # ", " # "],
        'U' => ["# #", "# #", "# #", "# #", "###"],
        'V' => ["# #", "# #", "# #", "# #", " # "],
        'W' => ["# #", "# #", "###", "###", "# #"],
        'X' => ["# #", "# #", " # ", "# #", "# #"],
        'Y' => ["# #", "# #", "###", " # ", " # "],
        'Z' => ["###", "  #", " # ", "#  ", "###"],
        '0' => ["###", "# #", "# #", "# #", "###"],
        '1' => [" # ", "## ", " # ", " # ", "###"],
        '2' => ["###", "  #", "###", "#  ", "###"],
        '3' => ["###", "  #", "###", "  #", "###"],
        '4' => ["# #", "# #", "###", "  #", "  #"],
        '5' => ["###", "#  ", "###", "  #", "###"],
        '6' => ["###", "#  ", "###", "# #", "###"],
        '7' => ["###", "  #", "  #", "  #", "  #"],
        '8' => ["###", "# #", "###", "# #", "###"],
        '9' => ["###", "# #", "###", "  #", "###"],
        '-' => ["   ", "   ", "###", "   ", "   "],
        '+' => ["   ", " # ", "###", " # ", "   "],
        '/' => ["  #", "  #", " # ", "#  ", "#  "],
        '.' => ["   ", "   ", "   ", "   ", " # "],
        ' ' => ["   ", "   ", "   ", "   ", "   "],
        _ => ["###", "  #", " ##", "   ", " # "],
    }
}

/// Columns `text` takes in large characters.
pub fn width(text: &str) -> u16 {
    let n = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    n.saturating_mul(ADVANCE).saturating_sub(1)
}

/// `text` as five lines of block characters in `style`.
pub fn lines(text: &str, style: Style) -> Vec<Line<'static>> {
    (0..usize::from(HEIGHT))
        .map(|row| {
            let s: String = text
                .chars()
                .map(|c| {
                    glyph(c)[row]
                        .chars()
                        .map(|p| if p == '#' { '█' } else { ' ' })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(" ");
            Line::styled(s, style)
        })
        .collect()
}

/// The colour of a disposition.
pub fn color(d: Disposition) -> Color {
    match d {
        Disposition::Resale => Color::Green,
        Disposition::Repair => Color::Yellow,
        Disposition::Parts | Disposition::Recycle => Color::Magenta,
        Disposition::Retest => Color::Red,
    }
}

/// The panel with the bin (and grade) of the graded phone in focus, large when it fits.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let focus = app.big_slot();
    let graded = focus
        .and_then(|at| app.slot(at).map(|s| (at, s)))
        .and_then(|(at, s)| s.phone.as_ref().map(|p| (at, p)))
        .and_then(|(at, p)| p.graded.as_ref().map(|g| (at, p, g)));
    let title = match graded {
        Some((at, p, _)) => format!(
            " {}/{} · {} ",
            app.bench_name(at.bench),
            at.slot,
            tail(&p.imei, 6)
        ),
        None => " Result ".to_string(),
    };
    let block = Block::bordered().title(Line::styled(title, bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some((_, _, g)) = graded else {
        frame.render_widget(
            Paragraph::new("no phone graded yet: the bin and grade show here in large letters"),
            inner,
        );
        return;
    };
    let style = fg(app, color(g.disposition)).add_modifier(Modifier::BOLD);
    let grade = g
        .record
        .grade
        .marketplace
        .as_deref()
        .map(str::to_string)
        .or_else(|| {
            g.record
                .grade
                .cosmetic
                .as_ref()
                .map(|c| format!("cosmetic {c}"))
        })
        .unwrap_or_default();
    let mut out: Vec<Line> = Vec::new();
    if width(&g.bin) <= inner.width && inner.height >= HEIGHT {
        out.extend(lines(&g.bin, style));
    } else {
        out.push(Line::styled(g.bin.to_uppercase(), style));
    }
    let rest = inner
        .height
        .saturating_sub(u16::try_from(out.len()).unwrap_or(0));
    if rest > HEIGHT && !grade.is_empty() && width(&grade) <= inner.width {
        out.push(Line::raw(""));
        out.extend(lines(&grade, bold()));
    } else if rest >= 1 {
        out.push(Line::from(vec![
            Span::styled(format!("{} ", g.disposition.as_str()), style),
            Span::styled(grade, bold()),
        ]));
    }
    frame.render_widget(Paragraph::new(out), inner);
}
