//! A board package's metadata: what `benchctl flash` needs to know about the image it flashes.
//!
//! Read from `<board>/Cargo.toml`: `package.version` (the firmware version the image carries
//! and its jig announces in `Hello`) and `[package.metadata.benchline]`:
//! `chip` (the probe-rs chip name), `target` (the Rust target the image is built for) and,
//! for a board on USB, `usb = { vid = 0x1209, pid = ... }`.

use std::path::{Path, PathBuf};

use crate::discovery::known::UsbId;

/// What a board package says about its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// The package's directory.
    pub dir: PathBuf,
    /// The package's name.
    pub name: String,
    /// The firmware version its image carries.
    pub version: String,
    /// The probe-rs chip name (`RP2040`); `qemu:<machine>` for a board that runs in QEMU.
    pub chip: String,
    /// The Rust target triple the image is built for (`thumbv6m-none-eabi`).
    pub target: String,
    /// Its USB identity, when the jig is on USB.
    pub usb: Option<UsbId>,
}

/// A board package that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("board package {}: {detail}; --board names a directory under firmware/boards/ whose Cargo.toml has package.version and [package.metadata.benchline] chip = \"...\", target = \"...\"", path.display())]
pub struct BoardError {
    /// The manifest.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
}

impl Board {
    /// Reads `<dir>/Cargo.toml`.
    pub fn read(dir: &Path) -> Result<Board, BoardError> {
        let path = dir.join("Cargo.toml");
        let fail = |detail: String| BoardError {
            path: path.clone(),
            detail,
        };
        let text =
            std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read it ({e})")))?;
        Board::parse(dir, &text).map_err(fail)
    }

    /// Parses a board manifest's text (`dir` is where it came from).
    pub fn parse(dir: &Path, text: &str) -> Result<Board, String> {
        let doc: toml_edit::DocumentMut =
            text.parse().map_err(|e| format!("not valid TOML ({e})"))?;
        let package = doc
            .get("package")
            .and_then(|p| p.as_table_like())
            .ok_or("no [package] table")?;
        let name = package
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or("no package.name")?
            .to_string();
        let version = match package.get("version").map(|v| v.as_str()) {
            Some(Some(v)) => v.to_string(),
            Some(None) => return Err("package.version must be written out in the board's manifest (not inherited from a workspace): it is the version the image carries".into()),
            None => return Err("no package.version".into()),
        };
        let meta = package
            .get("metadata")
            .and_then(|m| m.as_table_like())
            .and_then(|m| m.get("benchline"))
            .and_then(|b| b.as_table_like())
            .ok_or("no [package.metadata.benchline] table")?;
        let text_field = |key: &str| -> Result<String, String> {
            meta.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or(format!("no package.metadata.benchline.{key} (a string)"))
        };
        let chip = text_field("chip")?;
        let target = text_field("target")?;
        let usb = match meta.get("usb") {
            None => None,
            Some(u) => {
                let u = u.as_table_like().ok_or(
                    "package.metadata.benchline.usb must be a table { vid = ..., pid = ... }",
                )?;
                let id = |key: &str| -> Result<u16, String> {
                    u.get(key)
                        .and_then(|v| v.as_integer())
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or(format!(
                            "package.metadata.benchline.usb.{key} must be a 16-bit number (0x1209)"
                        ))
                };
                Some(UsbId {
                    vid: id("vid")?,
                    pid: id("pid")?,
                })
            }
        };
        Ok(Board {
            dir: dir.to_path_buf(),
            name,
            version,
            chip,
            target,
            usb,
        })
    }

    /// True for a board that runs in QEMU (nothing to flash).
    pub fn is_emulated(&self) -> bool {
        self.chip.starts_with("qemu:")
    }
}
