//! Loading a phone library: only regular files of a sane size are read, each `[[phone]]` table
//! is deserialized on its own and checked against the rules of [`super::check`], and ids and
//! IMEIs are compared across every file, so that every problem of the library is reported at
//! once, each at its file:line:col with a hint.

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::IntoDeserializer as _;
use serde::Deserialize as _;
use toml_edit::{ImDocument, Item, TableLike, Value};

use super::check::{self, Issue, Seg};
use super::Phone;

/// Largest phone library file read, bytes (4 MiB; the shipped files are about 15 KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a phone library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// Problems in the library's files, every one found, each with its place.
    #[error(transparent)]
    Invalid(#[from] Problems),
    /// No phone in the library.
    #[error("phone library {path} holds no phones; add [[phone]] tables")]
    Empty {
        /// File or directory.
        path: PathBuf,
    },
}

/// Where a problem stands in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The offending text, as byte offsets into the file.
    pub span: Range<usize>,
}

/// One problem of a phone library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// Where in the file; `None` when the file as a whole is at fault (not readable, not a
    /// regular file, too large).
    pub at: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Every problem found in a phone library, in file order, with the text of each file they
/// point into (for rendering the offending line).
#[derive(Debug, Clone, Default)]
pub struct Problems {
    /// The problems.
    pub problems: Vec<Problem>,
    /// Text of every file a located problem points into.
    pub sources: BTreeMap<PathBuf, String>,
}

impl Problems {
    /// The text of `path`, when a problem points into it.
    pub fn source(&self, path: &Path) -> Option<&str> {
        self.sources.get(path).map(String::as_str)
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.problems {
            match &p.at {
                Some(at) => writeln!(
                    f,
                    "{}:{}:{}: {}; {}",
                    p.path.display(),
                    at.line,
                    at.column,
                    p.message,
                    p.hint
                )?,
                None => writeln!(f, "{}: {}; {}", p.path.display(), p.message, p.hint)?,
            }
        }
        write!(
            f,
            "{} problem(s) in the phone library; nothing was run",
            self.problems.len()
        )
    }
}

impl std::error::Error for Problems {}

/// 1-based line and column (in characters) of byte `offset` of `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut start = offset.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let before = &source[..start];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A set of phones.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// The phones, in file order.
    pub phones: Vec<Phone>,
}

/// Where a loaded phone's id and IMEI stand, for naming both places of a duplicate.
struct Origin {
    path: PathBuf,
    id: Place,
    imei: Place,
}

#[derive(Clone)]
struct Place {
    span: Range<usize>,
    line: usize,
    column: usize,
}

/// Collects phones and problems over the files of one library.
#[derive(Default)]
struct Loader {
    /// Every phone that deserialized (with problems of its own or not), for the duplicates.
    phones: Vec<(Phone, Origin)>,
    problems: Problems,
    /// Text of every file read.
    texts: BTreeMap<PathBuf, String>,
}

impl Loader {
    fn whole_file(&mut self, path: &Path, message: String, hint: &str) {
        self.problems.problems.push(Problem {
            path: path.to_path_buf(),
            at: None,
            message,
            hint: hint.into(),
        });
    }

    fn located(
        &mut self,
        path: &Path,
        text: &str,
        span: Range<usize>,
        message: String,
        hint: String,
    ) {
        let (line, column) = line_col(text, span.start);
        self.problems.problems.push(Problem {
            path: path.to_path_buf(),
            at: Some(Location { line, column, span }),
            message,
            hint,
        });
        self.problems
            .sources
            .entry(path.to_path_buf())
            .or_insert_with(|| text.to_string());
    }

    /// Parses one file's phones.
    fn file(&mut self, path: &Path, text: &str) {
        self.texts.insert(path.to_path_buf(), text.to_string());
        let doc = match ImDocument::parse(text.to_string()) {
            Ok(d) => d,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                self.located(
                    path,
                    text,
                    span,
                    format!("not valid TOML: {}", e.message().trim_end()),
                    "fix the TOML syntax here".into(),
                );
                return;
            }
        };
        let mut found = false;
        for (key, item) in doc.as_table().iter() {
            let key_span = doc
                .as_table()
                .key(key)
                .and_then(|k| k.span())
                .unwrap_or(0..0);
            if key != "phone" {
                self.located(
                    path,
                    text,
                    key_span,
                    format!("unknown key `{key}` at the top of a phone library"),
                    "a phone library holds only [[phone]] tables".into(),
                );
                continue;
            }
            found = true;
            let Item::ArrayOfTables(array) = item else {
                self.located(
                    path,
                    text,
                    key_span,
                    "`phone` is not [[phone]] tables".into(),
                    "write each phone as a [[phone]] table".into(),
                );
                continue;
            };
            for t in array.iter() {
                // The table's header, else its first key.
                let header = t
                    .span()
                    .or_else(|| t.iter().next().and_then(|(k, _)| t.key(k)?.span()))
                    .unwrap_or(key_span.clone());
                self.phone(path, text, t, header);
            }
        }
        if !found {
            self.located(
                path,
                text,
                0..0,
                "no [[phone]] table in this file".into(),
                "add [[phone]] tables, or remove the file from the library".into(),
            );
        }
    }

    /// Deserializes and checks one `[[phone]]` table.
    fn phone(&mut self, path: &Path, text: &str, table: &toml_edit::Table, header: Range<usize>) {
        let value = Value::InlineTable(table.clone().into_inline_table());
        let phone = match Phone::deserialize(value.into_deserializer()) {
            Ok(p) => p,
            Err(e) => {
                let span = e.span().filter(|s| s.end > 0).unwrap_or(header);
                self.located(
                    path,
                    text,
                    span,
                    e.message().trim_end().to_string(),
                    "see the phone schema in firmware/models/src/phone.rs (fixtures/README.md)"
                        .into(),
                );
                return;
            }
        };
        for issue in check::phone(&phone) {
            let span = locate(table, &issue, &header);
            self.located(path, text, span, issue.message, issue.hint);
        }
        let place = |key: &str| {
            let span = table
                .get(key)
                .and_then(Item::span)
                .unwrap_or(header.clone());
            let (line, column) = line_col(text, span.start);
            Place { span, line, column }
        };
        let origin = Origin {
            path: path.to_path_buf(),
            id: place("id"),
            imei: place("imei"),
        };
        self.phones.push((phone, origin));
    }

    /// Ids and IMEIs used twice, each named at both places.
    fn duplicates(&mut self) {
        let mut found = Vec::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut imeis: HashMap<&str, usize> = HashMap::new();
        for (n, (p, o)) in self.phones.iter().enumerate() {
            // An empty id or IMEI is a problem of its own already.
            if p.id.trim().is_empty() {
            } else if let Some(&first) = ids.get(p.id.as_str()) {
                let (fp, fo) = &self.phones[first];
                found.push((
                    o.path.clone(),
                    o.id.span.clone(),
                    format!(
                        "id `{}` is already the id of the phone at {}:{}:{} (IMEI {})",
                        p.id,
                        fo.path.display(),
                        fo.id.line,
                        fo.id.column,
                        fp.imei
                    ),
                    "give every phone an id of its own".to_string(),
                ));
            } else {
                ids.insert(&p.id, n);
            }
            if p.imei.is_empty() {
            } else if let Some(&first) = imeis.get(p.imei.as_str()) {
                let (fp, fo) = &self.phones[first];
                found.push((
                    o.path.clone(),
                    o.imei.span.clone(),
                    format!(
                        "IMEI {} is already the IMEI of phone `{}` at {}:{}:{}",
                        p.imei,
                        fp.id,
                        fo.path.display(),
                        fo.imei.line,
                        fo.imei.column
                    ),
                    "every phone needs an IMEI of its own (records are matched to phones by IMEI); correct one of the two".to_string(),
                ));
            } else {
                imeis.insert(&p.imei, n);
            }
        }
        for (path, span, message, hint) in found {
            let text = self.source_of(&path);
            self.located(&path, &text, span, message, hint);
        }
    }

    fn source_of(&self, path: &Path) -> String {
        self.texts.get(path).cloned().unwrap_or_default()
    }
}

/// The span of the value (or key) an issue names: the deepest part of its path that the table
/// holds (a value left at its default points at its table), else the phone's header.
fn locate(table: &toml_edit::Table, issue: &Issue, header: &Range<usize>) -> Range<usize> {
    let mut best = header.clone();
    let mut item: Option<&Item> = None;
    let mut parent: Option<&dyn TableLike> = Some(table);
    for (n, seg) in issue.path.iter().enumerate() {
        let last = n + 1 == issue.path.len();
        match seg {
            Seg::Key(k) => {
                let Some((key, next)) = parent.and_then(|t| t.get_key_value(k)) else {
                    break;
                };
                if let Some(s) = next.span().or_else(|| key.span()) {
                    best = s;
                }
                if last && issue.on_key {
                    if let Some(s) = key.span() {
                        best = s;
                    }
                }
                parent = next.as_table_like();
                item = Some(next);
            }
            Seg::Index(i) => {
                let Some(v) = item.and_then(Item::as_array).and_then(|a| a.get(*i)) else {
                    break;
                };
                if let Some(s) = v.span() {
                    best = s;
                }
                parent = v.as_inline_table().map(|t| t as &dyn TableLike);
                item = None;
            }
        }
    }
    best
}

/// Reads `path` when it is a regular file of at most [`MAX_FILE_BYTES`] of UTF-8 text (a
/// symbolic link is followed to what it names); else the problem.
fn read_capped(path: &Path) -> Result<String, (String, &'static str)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        (
            format!("cannot read: {e}"),
            "check the path and its permissions",
        )
    })?;
    if !meta.is_file() {
        return Err((
            format!("is not a regular file but {}", kind(&meta)),
            "give a phone library file (*.toml) or a directory of them",
        ));
    }
    let too_big = |size: u64| {
        (
            format!("is {size} bytes, more than the {MAX_FILE_BYTES} bytes (4 MiB) a phone library file may hold"),
            "split the library into several files of one directory",
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        (
            format!("cannot read: {e}"),
            "check the path and its permissions",
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (format!("cannot read: {e}"), "check the file"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        (
            format!(
                "is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the file as UTF-8 TOML",
        )
    })
}

/// What kind of file `meta` describes, for messages.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

impl Library {
    /// Parses one library file's text; `path` names it in errors. Every problem of the file is
    /// reported, ids and IMEIs used twice within it included.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PhoneError> {
        Library::parse_files([(path, text)])
    }

    /// Parses several files' texts as one library (ids and IMEIs compared across all of them).
    pub fn parse_files<'a>(
        files: impl IntoIterator<Item = (&'a Path, &'a str)>,
    ) -> Result<Self, PhoneError> {
        let mut loader = Loader::default();
        for (path, text) in files {
            loader.file(path, text);
        }
        loader.finish()
    }

    /// Loads a file, or every `*.toml` in a directory (sorted by name, not recursive). Only
    /// regular files (or links to them) of at most [`MAX_FILE_BYTES`] are read; every problem
    /// of every file is reported at once.
    pub fn load(path: &Path) -> Result<Self, PhoneError> {
        let mut loader = Loader::default();
        let files = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => match list_dir(path) {
                Ok(files) => files,
                Err(e) => {
                    loader.whole_file(
                        path,
                        format!("cannot read the directory: {e}"),
                        "check the path and its permissions",
                    );
                    Vec::new()
                }
            },
            _ => vec![path.to_path_buf()],
        };
        for f in files {
            match read_capped(&f) {
                Ok(text) => loader.file(&f, &text),
                Err((message, hint)) => loader.whole_file(&f, message, hint),
            }
        }
        if loader.phones.is_empty() && loader.problems.problems.is_empty() {
            return Err(PhoneError::Empty {
                path: path.to_path_buf(),
            });
        }
        loader.finish()
    }
}

/// The `*.toml` entries of a directory, sorted by name.
fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "toml") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

impl Loader {
    fn finish(mut self) -> Result<Library, PhoneError> {
        self.duplicates();
        // File order (files are read sorted by name), then place in the file.
        self.problems
            .problems
            .sort_by_key(|p| (p.path.clone(), p.at.as_ref().map_or(0, |a| a.span.start)));
        if !self.problems.problems.is_empty() {
            return Err(PhoneError::Invalid(self.problems));
        }
        Ok(Library {
            phones: self.phones.into_iter().map(|(p, _)| p).collect(),
        })
    }
}
