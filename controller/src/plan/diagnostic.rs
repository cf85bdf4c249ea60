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

    /// Renders the problem with its source line, as a test engineer reads it.
    pub fn render(&self, origin: &str, source: &str) -> String {
        let (line, col) = self.line_col(source);
        let title = format!("{origin}:{line}:{col}: {}", self.message);
        let span = clamp(&self.span, source);
        let snippet = Snippet::source(source)
            .origin(origin)
            .fold(true)
            .annotation(Level::Error.span(span).label(""));
        let mut msg = Level::Error.title(&title).snippet(snippet);
        if let Some(h) = &self.hint {
            msg = msg.footer(Level::Help.title(h));
        }
        let out = Renderer::plain().render(msg).to_string();
        out
    }
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
