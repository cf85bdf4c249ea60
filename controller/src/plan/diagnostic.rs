//! Errors in a plan file, each with its place (file:line:col), the offending text and a hint.

use std::ops::Range;

use annotate_snippets::{Level, Renderer, Snippet};

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where, as byte offsets into the file.
    pub span: Range<usize>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            hint: None,
        }
    }

    /// Adds what to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 1-based line and column of the start of the span.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let mut start = self.span.start.min(source.len());
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// Renders the problem with its source line, as a test engineer reads it. Long values are
    /// shortened ([`elide`]) and a long source line is shown around the problem only, so that
    /// a huge value in a file never floods the terminal.
    pub fn render(&self, origin: &str, source: &str) -> String {
        let (line, col) = self.line_col(source);
        let title = format!("{origin}:{line}:{col}: {}", elide(&self.message));
        let span = clamp(&self.span, source);
        let hint = self.hint.as_deref().map(elide);
        let window = window(source, &span);
        let snippet = match &window {
            // No origin line: its column would count from the window (the title has the place).
            Some((text, marked)) => Snippet::source(text)
                .line_start(line)
                .annotation(Level::Error.span(marked.clone()).label("")),
            None => Snippet::source(source)
                .origin(origin)
                .fold(true)
                .annotation(Level::Error.span(span).label("")),
        };
        let mut msg = Level::Error.title(&title).snippet(snippet);
        if let Some(h) = &hint {
            msg = msg.footer(Level::Help.title(h));
        }
        let out = Renderer::plain().render(msg).to_string();
        out
    }
}

/// Longest value shown whole in a message (between backticks); longer ones are cut.
pub const SHOWN: usize = 64;

/// Longest run of text without a space shown whole in a message.
const SHOWN_WORD: usize = 256;

/// Longest source line shown whole under a message.
const SHOWN_LINE: usize = 512;

/// `text` with at most `max` characters, then `… (N bytes)` when it was longer.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// A message with long values shortened: each `quoted` value to [`SHOWN`] characters, any
/// other run of text without a space to [`SHOWN_WORD`].
pub fn elide(message: &str) -> String {
    if message.len() <= SHOWN {
        return message.to_string();
    }
    let quoted = message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                shorten(part, SHOWN)
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`");
    if quoted
        .split(char::is_whitespace)
        .all(|w| w.len() <= SHOWN_WORD)
    {
        return quoted;
    }
    quoted
        .split(' ')
        .map(|w| shorten(w, SHOWN_WORD))
        .collect::<Vec<_>>()
        .join(" ")
}

/// When the lines under `span` are too long to show: the start of the span on its line, with a
/// little of the text around it, and where the span falls in that text.
fn window(source: &str, span: &Range<usize>) -> Option<(String, Range<usize>)> {
    let line_start = source[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[span.end..]
        .find('\n')
        .map_or(source.len(), |i| span.end + i);
    if line_end - line_start <= SHOWN_LINE {
        return None;
    }
    let first_end = source[span.start..]
        .find('\n')
        .map_or(source.len(), |i| span.start + i);
    let before = &source[line_start..span.start];
    let before = match before.char_indices().rev().nth(40) {
        Some((cut, _)) => format!("…{}", &before[cut..]),
        None => before.to_string(),
    };
    let marked = shorten(&source[span.start..span.end.min(first_end)], SHOWN);
    let after = shorten(&source[span.end.min(first_end)..first_end], 20);
    let text = format!("{before}{marked}{after}");
    let marked = before.len()..before.len() + marked.len();
    Some((text, marked))
}

fn clamp(span: &Range<usize>, source: &str) -> Range<usize> {
    let mut start = span.start.min(source.len());
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Every problem found in one plan file.
#[derive(Debug, Clone)]
pub struct PlanErrors {
    /// File name as given.
    pub origin: String,
    /// File text.
    pub source: String,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}", d.render(&self.origin, &self.source))?;
        }
        write!(
            f,
            "{}: {} error(s); nothing was run",
            self.origin,
            self.diagnostics.len()
        )
    }
}

impl std::error::Error for PlanErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_is_shortened_in_the_message_the_hint_and_the_source_line() {
        let id = "A".repeat(1 << 20);
        let source = format!("[plan]\nid = \"{id}\"\nversion = \"1.0.0\"\n");
        let start = source.find('"').unwrap_or(0);
        let d = Diagnostic::new(
            format!("plan id `{id}` is not a plain name"),
            start..start + id.len() + 2,
        )
        .hint(format!("not `{id}`"));
        let text = d.render("big.toml", &source);
        assert!(
            text.len() < 2000,
            "{} bytes: {}",
            text.len(),
            &text[..2000.min(text.len())]
        );
        assert!(text.contains("big.toml:2:6"), "{text}");
        assert!(text.contains("… (1048576 bytes)"), "{text}");
        assert!(text.contains("2 | id = \"AAAA"), "{text}");
    }

    #[test]
    fn short_values_are_shown_whole() {
        assert_eq!(
            elide("plan id `Bad Id` is not a plain name"),
            "plan id `Bad Id` is not a plain name"
        );
        let long = format!("step `{}` is used twice", "s".repeat(70));
        assert!(elide(&long).contains(&format!("`{}… (70 bytes)`", "s".repeat(64))));
    }
}
