//! Where a station's jigs may be: the serial ports to open and ask for their `Hello`.
//!
//! [`PortSource`] is the seam: it turns the station's port patterns into candidate device
//! paths. [`DevPorts`] reads the file system (`/dev/serial/by-id/*`, `/dev/ttyACM*`, a
//! simulated jig's `--link` path); USB discovery can stand in its place (listing the CDC-ACM
//! interfaces of jigs by VID/PID). Which jig is which is never decided here: the run asks each
//! candidate for its `Hello` and [`super::mapping`] places it by the serial it announces.

use std::path::{Path, PathBuf};

/// Lists candidate serial ports for a station's port patterns.
pub trait PortSource: Send + Sync {
    /// The device paths matching `patterns` (paths, or `*` / `?` in the file name), in pattern
    /// order; a device reached by several paths is listed once, by the first path found.
    fn candidates(&self, patterns: &[String]) -> Vec<String>;
}

/// Candidate ports from the file system: each pattern's directory is listed and the names
/// matching its file-name pattern kept, sorted; a plain path is kept when it exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevPorts;

impl PortSource for DevPorts {
    fn candidates(&self, patterns: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for pattern in patterns {
            out.extend(expand(Path::new(pattern)));
        }
        dedupe(out, |p| std::fs::canonicalize(p).ok())
    }
}

/// The existing paths a pattern names.
fn expand(pattern: &Path) -> Vec<String> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        // A plain path: kept when it exists (a dangling by-id link is a jig unplugged).
        return if pattern.exists() {
            vec![pattern.display().to_string()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let wild = wildmatch::WildMatch::new(&name);
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| wild.matches(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.into_iter().map(|p| p.display().to_string()).collect()
}

/// `paths` without the later ones that `same` resolves to a device already listed (a by-id
/// link and the `/dev/ttyACM` it points to).
pub fn dedupe(paths: Vec<String>, same: impl Fn(&str) -> Option<PathBuf>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for p in paths {
        let key = same(&p).unwrap_or_else(|| PathBuf::from(&p));
        if seen.insert(key) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn patterns_list_matching_devices_once_by_the_first_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ttyACM0"), "").unwrap();
        std::fs::write(d.join("ttyACM1"), "").unwrap();
        std::fs::write(d.join("ttyS0"), "").unwrap();
        std::fs::create_dir(d.join("by-id")).unwrap();
        std::os::unix::fs::symlink(d.join("ttyACM1"), d.join("by-id/usb-Benchline_J7")).unwrap();
        // Unplugged: its link dangles.
        std::os::unix::fs::symlink(d.join("ttyACM9"), d.join("by-id/usb-Benchline_J9")).unwrap();
        let p = |s: &str| d.join(s).display().to_string();
        let found = DevPorts.candidates(&[p("by-id/*"), p("ttyACM*"), p("missing")]);
        assert_eq!(
            found,
            vec![p("by-id/usb-Benchline_J7"), p("ttyACM0")],
            "the by-id link stands for ttyACM1; ttyS0 does not match"
        );
        assert!(DevPorts.candidates(&[p("nowhere/*")]).is_empty());
    }
}
