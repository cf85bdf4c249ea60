//! What every spanned TOML file of ours (plans, station files) is checked with: the document
//! parsed with a located error, tables checked against the keys they may have (an unknown key
//! gets a "did you mean"), and every problem collected as a located [`Diagnostic`].

use std::ops::Range;
use std::path::Path;

use toml_edit::ImDocument;

use super::diagnostic::Diagnostic;
use super::node::{Entry, Node};

/// Parses TOML text, or the one located error that says why it is not TOML.
pub fn document(source: &str) -> Result<ImDocument<String>, Vec<Diagnostic>> {
    ImDocument::parse(source.to_string()).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        vec![
            Diagnostic::new(format!("invalid TOML: {msg}"), e.span().unwrap_or(0..0)).hint(
                "fix the syntax at this place; strings need quotes and tables need [brackets]",
            ),
        ]
    })
}

/// "did you mean `x`? " for the option closest to `word`, when one is close enough.
pub fn suggest(word: &str, options: &[&str]) -> Option<String> {
    options
        .iter()
        .map(|o| (strsim::levenshtein(word, o), *o))
        .filter(|(d, o)| *d <= (o.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, o)| format!("did you mean `{o}`? "))
}

/// The entries of one table, checked against the keys it may have.
pub struct Fields<'n, 'a> {
    /// The table's entries.
    pub entries: &'n [Entry<'a>],
    /// The table's span.
    pub span: Range<usize>,
    /// How messages name the table (`[plan]`, `the station file`).
    pub what: String,
}

impl<'n, 'a> Fields<'n, 'a> {
    /// The value of `key`, if the table has it.
    pub fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.entry(key).map(|e| &e.node)
    }

    /// The entry of `key` (with the span of the key itself), if the table has it.
    pub fn entry(&self, key: &str) -> Option<&'n Entry<'a>> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// The problems found so far.
#[derive(Default)]
pub struct Checker {
    /// Every problem, in the order found.
    pub diags: Vec<Diagnostic>,
}

impl Checker {
    /// Records a problem at `span` with a hint saying what to do.
    pub fn err(&mut self, message: impl Into<String>, span: Range<usize>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::new(message, span).hint(hint));
    }

    /// `node` as a table that may have only the keys `allowed`; every other key is a problem.
    pub fn fields<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n, 'a>> {
        match node {
            Node::Table(entries, span) => {
                for e in entries {
                    if !allowed.contains(&e.key) {
                        let hint = format!(
                            "{}{what} may have: {}",
                            suggest(e.key, allowed).unwrap_or_default(),
                            allowed.join(", ")
                        );
                        self.err(
                            format!("unknown key `{}` in {what}", e.key),
                            e.key_span.clone(),
                            hint,
                        );
                    }
                }
                Some(Fields {
                    entries,
                    span: span.clone(),
                    what: what.into(),
                })
            }
            other => {
                self.err(
                    format!("{what} must be a table, found {}", other.kind()),
                    other.span(),
                    "write it as [name] or { key = value }",
                );
                None
            }
        }
    }

    /// The string at `key` of `f`, which must be there: missing or not a string is a problem,
    /// with `example` showing how to write it.
    pub fn string<'a>(
        &mut self,
        f: &Fields<'_, 'a>,
        key: &str,
        example: &str,
    ) -> Option<(&'a str, Range<usize>)> {
        match f.get(key) {
            Some(Node::Str(s, span)) => Some((*s, span.clone())),
            Some(other) => {
                self.err(
                    format!(
                        "`{key}` in {} must be a string, found {}",
                        f.what,
                        other.kind()
                    ),
                    other.span(),
                    format!("write {key} = \"{example}\""),
                );
                None
            }
            None => {
                self.err(
                    format!("missing `{key}` in {}", f.what),
                    f.span.clone(),
                    format!("add {key} = \"{example}\""),
                );
                None
            }
        }
    }

    /// The checked value, or every problem in file order (`incomplete` when there is none to
    /// say why the value is missing).
    pub fn finish<T>(mut self, value: Option<T>, incomplete: &str) -> Result<T, Vec<Diagnostic>> {
        if self.diags.is_empty() {
            if let Some(v) = value {
                return Ok(v);
            }
            self.diags.push(Diagnostic::new(incomplete, 0..0));
        }
        self.diags.sort_by_key(|d| d.span.start);
        Err(self.diags)
    }
}

/// Why a text file of ours (a plan, a station file) was not read.
#[derive(Debug)]
pub enum FileProblem {
    /// It could not be opened or read.
    Read(std::io::Error),
    /// It is not a regular file: what it is ("a directory", "a FIFO (named pipe)", ...).
    NotAFile(&'static str),
    /// It holds more than the limit: at least this many bytes.
    TooBig(u64),
    /// It is not UTF-8: the offset of the first bad byte.
    NotText(usize),
}

/// Reads `path` when it is a regular file (a symbolic link is followed) of at most `max` bytes
/// of UTF-8 text. A FIFO, a device or an endless file is refused before anything is read, so
/// nothing hangs or grows without bound.
pub fn read_text(path: &Path, max: u64) -> Result<String, FileProblem> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(FileProblem::Read)?;
    let meta = file.metadata().map_err(FileProblem::Read)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(FileProblem::NotAFile(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }));
    }
    if meta.len() > max {
        return Err(FileProblem::TooBig(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Read)?;
    if bytes.len() as u64 > max {
        return Err(FileProblem::TooBig(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| FileProblem::NotText(e.utf8_error().valid_up_to()))
}
