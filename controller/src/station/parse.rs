//! Station text to [`Station`], collecting every problem as a located [`Diagnostic`] (the
//! same spanned TOML tree and messages as plan files).

use std::collections::BTreeMap;
use std::ops::Range;

use super::{Bench, JigPlace, Station};
use crate::grade::bin::Bins;
use crate::grade::Disposition;
use crate::plan::checker::{self, Checker, Fields};
use crate::plan::node::{self, Node};
use crate::plan::Diagnostic;

/// Longest station id, bench name or jig serial: records carry them.
const MAX_NAME: usize = 64;

/// Longest bin label (it is shown in large text at the bench).
const MAX_BIN: usize = 32;

/// The highest slot number a jig may have (the protocol's slot is a byte).
const MAX_SLOT: i64 = 254;

/// Parses and validates; every problem is reported.
pub fn parse(source: &str) -> Result<Station, Vec<Diagnostic>> {
    let doc = checker::document(source)?;
    let root = node::parse(&doc);
    let mut cx = Cx::default();
    let station = cx.station(&root);
    cx.base.finish(station, "the station file is incomplete")
}

/// True for a name that reads well in a record and a file name: letters, digits, `-`, `_`, `.`.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The station file's checks, on the shared ones of [`Checker`] (`err`, `fields`).
#[derive(Default)]
struct Cx {
    base: Checker,
}

impl std::ops::Deref for Cx {
    type Target = Checker;
    fn deref(&self) -> &Checker {
        &self.base
    }
}

impl std::ops::DerefMut for Cx {
    fn deref_mut(&mut self) -> &mut Checker {
        &mut self.base
    }
}

impl Cx {
    /// A required plain name (`id`, `name`, `serial`): letters, digits, `-`, `_`, `.`.
    fn name<'a>(
        &mut self,
        f: &Fields<'_, 'a>,
        key: &str,
        example: &str,
    ) -> Option<(&'a str, Range<usize>)> {
        let (s, span) = self.string(f, key, example)?;
        if !plain(s) {
            self.err(
                format!("{key} `{s}` in {} is not a plain name", f.what),
                span,
                format!("use letters, digits, '-', '_' and '.', e.g. {key} = \"{example}\""),
            );
            return None;
        }
        if s.len() > MAX_NAME {
            self.err(
                format!(
                    "{key} `{s}` in {} is longer than {MAX_NAME} characters",
                    f.what
                ),
                span,
                format!("every record carries it: keep it short, e.g. {key} = \"{example}\""),
            );
            return None;
        }
        Some((s, span))
    }

    fn station(&mut self, root: &Node<'_>) -> Option<Station> {
        let top = self.fields(root, "the station file", &["station", "bins", "bench"])?;
        let head = match top.get("station") {
            Some(n) => self.fields(n, "[station]", &["id", "ports", "plant"]),
            None => {
                self.err(
                    "missing [station] table",
                    0..0,
                    "start the file with [station] and its id, e.g. id = \"line2-station-a\"",
                );
                None
            }
        };
        let id = head
            .as_ref()
            .and_then(|h| self.name(h, "id", "line2-station-a"))
            .map(|(s, _)| s.to_string());
        let ports = head
            .as_ref()
            .and_then(|h| h.get("ports"))
            .map(|n| self.ports(n));
        let plant = head
            .as_ref()
            .and_then(|h| h.get("plant"))
            .and_then(|n| self.plant(n));
        let bins = match top.get("bins") {
            Some(n) => self.bins(n),
            None => Bins::default(),
        };
        let benches = match top.get("bench") {
            Some(Node::Array(items, span)) if items.is_empty() => {
                self.err(
                    "the station has no benches",
                    span.clone(),
                    "add a [[bench]] with its name and [[bench.jig]] serial",
                );
                Vec::new()
            }
            Some(Node::Array(items, _)) => items.iter().filter_map(|b| self.bench(b)).collect(),
            Some(other) => {
                self.err(
                    "bench must be an array of tables",
                    other.span(),
                    "write each bench as [[bench]]",
                );
                Vec::new()
            }
            None => {
                self.err(
                    "the station has no benches",
                    top.span.clone(),
                    "add a [[bench]] with its name and [[bench.jig]] serial",
                );
                Vec::new()
            }
        };
        self.unique(&top);
        Some(Station {
            id: id?,
            ports: ports.flatten(),
            plant,
            benches,
            bins,
        })
    }

    /// `plant`: the URL of the plant's PostgreSQL database the station replicates to.
    fn plant(&mut self, n: &Node<'_>) -> Option<String> {
        const EXAMPLE: &str = "write plant = \"postgresql://line3@plant-db/plant?sslmode=verify-full\" (the plant's database; its administrator gives the URL)";
        match n {
            Node::Str(s, span)
                if !(s.starts_with("postgresql://") || s.starts_with("postgres://")) =>
            {
                self.err(
                    format!("plant `{s}` is not a PostgreSQL URL"),
                    span.clone(),
                    EXAMPLE,
                );
                None
            }
            Node::Str(s, _) => Some(s.to_string()),
            other => {
                self.err(
                    format!("`plant` must be a string, found {}", other.kind()),
                    other.span(),
                    EXAMPLE,
                );
                None
            }
        }
    }

    /// `ports`: paths or patterns of serial ports.
    fn ports(&mut self, n: &Node<'_>) -> Option<Vec<String>> {
        let Node::Array(items, _) = n else {
            self.err(
                format!("`ports` must be an array of paths, found {}", n.kind()),
                n.span(),
                "write ports = [\"/dev/serial/by-id/*\"] (or leave it out for the defaults)",
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                Node::Str(s, span) if !s.starts_with('/') => self.err(
                    format!("port `{s}` is not an absolute path"),
                    span.clone(),
                    "write the device's full path, e.g. \"/dev/serial/by-id/*\" or \"/dev/ttyACM0\"",
                ),
                Node::Str(s, span)
                    if Path::new(s)
                        .parent()
                        .is_some_and(|p| p.to_string_lossy().contains(['*', '?'])) =>
                {
                    self.err(
                        format!("port `{s}` has a pattern in a directory name"),
                        span.clone(),
                        "only the file name may hold * or ?, e.g. \"/dev/serial/by-id/usb-Benchline*\"",
                    )
                }
                Node::Str(s, _) => out.push(s.to_string()),
                other => self.err(
                    format!("`ports` must hold strings, found {}", other.kind()),
                    other.span(),
                    "quote every path",
                ),
            }
        }
        Some(out)
    }

    /// `[bins]`: a label per disposition.
    fn bins(&mut self, n: &Node<'_>) -> Bins {
        let names: Vec<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
        let Some(f) = self.fields(n, "[bins]", &names) else {
            return Bins::default();
        };
        let mut labels = Vec::new();
        for e in f.entries {
            let Some(d) = Disposition::ALL.iter().find(|d| d.as_str() == e.key) else {
                continue;
            };
            match &e.node {
                Node::Str(s, span) if s.trim().is_empty() => self.err(
                    format!("the bin label of {} is empty", e.key),
                    span.clone(),
                    format!("name the bin the operator puts {} phones in, e.g. \"{}\"", e.key, e.key.to_ascii_uppercase()),
                ),
                Node::Str(s, span) if s.chars().count() > MAX_BIN || s.contains(['\n', '\r']) => self.err(
                    format!("the bin label of {} is longer than {MAX_BIN} characters or has a line break", e.key),
                    span.clone(),
                    "it is shown in large text at the bench: keep it to a few words on one line",
                ),
                Node::Str(s, _) => labels.push((*d, s.to_string())),
                other => self.err(
                    format!("the bin label of {} must be a string, found {}", e.key, other.kind()),
                    other.span(),
                    format!("write {} = \"{}\"", e.key, e.key.to_ascii_uppercase()),
                ),
            }
        }
        Bins::with(labels)
    }

    fn bench(&mut self, n: &Node<'_>) -> Option<Bench> {
        let f = self.fields(n, "[[bench]]", &["name", "jig"])?;
        let name = self.name(&f, "name", "bench-1").map(|(s, _)| s.to_string());
        let what = format!("bench {}", name.as_deref().unwrap_or("?"));
        let jigs = match f.get("jig") {
            Some(Node::Array(items, span)) if items.is_empty() => {
                self.err(
                    format!("{what} has no jigs"),
                    span.clone(),
                    "add [[bench.jig]] with the jig's serial = \"...\"",
                );
                Vec::new()
            }
            Some(Node::Array(items, _)) => items.iter().filter_map(|j| self.jig(j)).collect(),
            Some(other) => {
                self.err(
                    format!(
                        "`jig` of {what} must be an array of tables, found {}",
                        other.kind()
                    ),
                    other.span(),
                    "write each jig as [[bench.jig]] under its [[bench]]",
                );
                Vec::new()
            }
            None => {
                self.err(
                    format!("{what} has no jigs"),
                    f.span.clone(),
                    "add [[bench.jig]] with the jig's serial = \"...\" under the [[bench]]",
                );
                Vec::new()
            }
        };
        Some(Bench { name: name?, jigs })
    }

    fn jig(&mut self, n: &Node<'_>) -> Option<JigPlace> {
        let f = self.fields(n, "[[bench.jig]]", &["serial", "slots"])?;
        let serial = self
            .name(&f, "serial", "BL-000123")
            .map(|(s, _)| s.to_string());
        let slots = match f.get("slots") {
            None => None,
            Some(Node::Array(items, span)) => {
                let mut slots: Vec<u8> = Vec::new();
                for item in items {
                    match item {
                        Node::Int(v, sp) if (0..=MAX_SLOT).contains(v) => {
                            let v = *v as u8;
                            if slots.contains(&v) {
                                self.err(
                                    format!("slot {v} is listed twice"),
                                    sp.clone(),
                                    "list each slot in use once",
                                );
                            }
                            slots.push(v);
                        }
                        other => self.err(
                            format!(
                                "a slot must be a number from 0 to {MAX_SLOT}, found `{}`",
                                kind_or_value(other)
                            ),
                            other.span(),
                            "slots count from 0: a 4-slot jig has slots 0, 1, 2 and 3",
                        ),
                    }
                }
                if items.is_empty() {
                    self.err(
                        "`slots` is empty",
                        span.clone(),
                        "list the slots in use, e.g. slots = [0, 1], or leave it out for all of them",
                    );
                }
                Some(slots)
            }
            Some(other) => {
                self.err(
                    format!(
                        "`slots` must be an array of slot numbers, found {}",
                        other.kind()
                    ),
                    other.span(),
                    "write slots = [0, 1], or leave it out for all of the jig's slots",
                );
                None
            }
        };
        Some(JigPlace {
            serial: serial?,
            slots,
        })
    }

    /// Bench names and jig serials are each used once.
    fn unique(&mut self, top: &Fields<'_, '_>) {
        let Some(Node::Array(benches, _)) = top.get("bench") else {
            return;
        };
        let mut names: BTreeMap<&str, ()> = BTreeMap::new();
        let mut serials: BTreeMap<&str, &str> = BTreeMap::new();
        for b in benches {
            let Node::Table(entries, _) = b else { continue };
            let bench_name = match entries.iter().find(|e| e.key == "name").map(|e| &e.node) {
                Some(Node::Str(name, span)) => {
                    if names.insert(name, ()).is_some() {
                        self.err(
                            format!("bench name `{name}` is used twice"),
                            span.clone(),
                            "give every bench its own name: records say which bench tested a phone",
                        );
                    }
                    *name
                }
                _ => "?",
            };
            let Some(Node::Array(jigs, _)) =
                entries.iter().find(|e| e.key == "jig").map(|e| &e.node)
            else {
                continue;
            };
            for j in jigs {
                let Node::Table(entries, _) = j else { continue };
                if let Some(Node::Str(serial, span)) =
                    entries.iter().find(|e| e.key == "serial").map(|e| &e.node)
                {
                    if let Some(first) = serials.insert(serial, bench_name) {
                        self.err(
                            format!("jig {serial} is listed twice (first on bench {first})"),
                            span.clone(),
                            "a jig stands on one bench: remove one of the entries",
                        );
                    }
                }
            }
        }
    }
}

use std::path::Path;

/// A value for a message: the number or the kind of value.
fn kind_or_value(n: &Node<'_>) -> String {
    match n {
        Node::Int(v, _) => v.to_string(),
        Node::Float(v, _) => v.to_string(),
        other => other.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const STATION: &str = "[station]\nid = \"line3\"\nPLANT\n[[bench]]\nname = \"b1\"\n[[bench.jig]]\nserial = \"J1\"\n";

    #[test]
    fn a_station_may_name_its_plant_database() {
        let s = parse(&STATION.replace("PLANT", "")).unwrap();
        assert_eq!(s.plant, None);
        let s = parse(&STATION.replace(
            "PLANT",
            "plant = \"postgresql:///plant?host=/run/pg&user=line3\"",
        ))
        .unwrap();
        assert_eq!(
            s.plant.as_deref(),
            Some("postgresql:///plant?host=/run/pg&user=line3")
        );
        let e = parse(&STATION.replace("PLANT", "plant = \"mysql://x\"")).unwrap_err();
        assert!(e[0].message.contains("not a PostgreSQL URL"), "{e:?}");
        let e = parse(&STATION.replace("PLANT", "plant = 3")).unwrap_err();
        assert!(e[0].message.contains("must be a string"), "{e:?}");
    }
}
