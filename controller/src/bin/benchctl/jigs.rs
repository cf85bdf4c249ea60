//! `benchctl jigs`: the jigs on USB and on the serial ports named, once or followed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use benchctl::discovery::follow::{changes, present, Change};
use benchctl::discovery::hello::LinkGreeter;
use benchctl::discovery::sysfs::Sysfs;
use benchctl::discovery::usb::{LibUsb, Watch};
use benchctl::discovery::{scan, Jig, Scan, Sources};

use crate::{print_out, say, Failure};

#[derive(clap::Args)]
pub(crate) struct JigsArgs {
    /// Also look at this serial port (a simulated jig's link path, a jig on a plain UART);
    /// repeatable.
    #[arg(long = "port", value_name = "PATH")]
    ports: Vec<PathBuf>,
    /// Keep watching: print arrivals and departures until SIGINT or SIGTERM.
    #[arg(long)]
    follow: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// How often `--follow` rescans when nothing is reported (named ports, no hot-plug).
const TICK: Duration = Duration::from_secs(1);

pub(crate) fn cmd_jigs(a: JigsArgs) -> Result<(), Failure> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(jigs(a))
}

async fn jigs(a: JigsArgs) -> Result<(), Failure> {
    let usb = LibUsb::open();
    if let Err(e) = &usb {
        say(&format!("note: {e}"));
    }
    let ports = Sysfs::default();
    let greeter = LinkGreeter::default();
    let sources = Sources {
        usb: usb.as_ref(),
        ports: &ports,
        greeter: &greeter,
    };
    let first = scan(&sources, &a.ports, &BTreeMap::new()).await;
    if let (Some(e), Ok(_)) = (&first.usb_problem, &usb) {
        say(&format!("note: {e}"));
    }
    if !a.follow {
        return print_scan(&first, a.json);
    }

    // Follow: hot-plug where libusb has it, else (and for named ports) a tick.
    let watch: Option<(Watch, tokio::sync::mpsc::UnboundedReceiver<()>)> =
        usb.as_ref().ok().and_then(LibUsb::watch);
    let how = if watch.is_some() {
        "USB hot-plug"
    } else {
        "polling"
    };
    say(&format!(
        "following jigs ({how}, rescanning every {} s); stop with Ctrl-C",
        TICK.as_secs()
    ));
    let (_watch, mut notices) = match watch {
        Some((w, rx)) => (Some(w), Some(rx)),
        None => (None, None),
    };
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = (
        signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?,
        signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
    );
    let mut known = BTreeMap::new();
    let mut latest = first;
    loop {
        let now = present(&latest.jigs);
        for (change, jig) in changes(&known, &now) {
            print_change(change, &jig, a.json)?;
        }
        known = now;
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = tokio::time::sleep(TICK) => {}
            Some(()) = async {
                match notices.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                // A burst of events (a hub, a re-enumeration) makes one rescan.
                while let Some(rx) = notices.as_mut() {
                    if rx.try_recv().is_err() {
                        break;
                    }
                }
            }
        }
        latest = scan(&sources, &a.ports, &known).await;
    }
    Ok(())
}

fn print_scan(scan: &Scan, json: bool) -> Result<(), Failure> {
    if json {
        for jig in &scan.jigs {
            print_out(&serde_json::to_string(&Line { event: None, jig })?)?;
        }
        return Ok(());
    }
    let usb = match scan.usb_devices {
        Some(n) => format!("{n} USB device{} seen", plural(n)),
        None => "0 USB devices (USB cannot be opened here)".to_string(),
    };
    if scan.jigs.is_empty() {
        return print_out(&format!(
            "no jigs found; {usb}; name a jig's serial port with --port PATH"
        ));
    }
    let rows: Vec<[String; 8]> = scan.jigs.iter().map(row).collect();
    print_out(&table(&rows))?;
    for jig in &scan.jigs {
        if let Some(p) = &jig.problem {
            print_out(&format!("{}: {p}", shown_place(jig)))?;
        }
    }
    let n = scan.jigs.len();
    print_out(&format!("{n} jig{}; {usb}", plural(n)))
}

fn print_change(change: Change, jig: &Jig, json: bool) -> Result<(), Failure> {
    if json {
        return print_out(&serde_json::to_string(&Line {
            event: Some(change),
            jig,
        })?);
    }
    let what = match change {
        Change::Arrived => "arrived",
        Change::Left => "left",
        Change::Changed => "changed",
    };
    let mut text = format!("{what}: {}", summary(jig));
    if let (Change::Arrived | Change::Changed, Some(p)) = (change, &jig.problem) {
        text.push_str(&format!("\n  {p}"));
    }
    print_out(&text)
}

/// One JSON line: the jig, and with `--follow` what happened to it.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Change>,
    #[serde(flatten)]
    jig: &'a Jig,
}

const HEADER: [&str; 8] = [
    "PORT", "SERIAL", "FIRMWARE", "PROTOCOL", "SLOTS", "USB", "BUS", "NOTE",
];

fn row(jig: &Jig) -> [String; 8] {
    let dash = || "-".to_string();
    let hello = jig.hello.as_ref();
    let usb = jig.usb.as_ref();
    let serial = hello
        .and_then(|h| h.serial.clone())
        .or_else(|| usb.and_then(|u| u.serial.clone()))
        .unwrap_or_else(dash);
    let note = match (hello, &jig.problem) {
        (_, Some(_)) => "see below".to_string(),
        (Some(h), None) if h.simulated => "simulated".to_string(),
        _ => jig.board.map(str::to_string).unwrap_or_default(),
    };
    [
        jig.port
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(dash),
        serial,
        hello.map(|h| h.firmware.clone()).unwrap_or_else(dash),
        hello.map(|h| h.protocol.to_string()).unwrap_or_else(dash),
        hello
            .and_then(|h| h.slots)
            .map(|s| s.to_string())
            .unwrap_or_else(dash),
        usb.map(|u| u.id.to_string()).unwrap_or_else(dash),
        usb.map(|u| u.bus_path.clone()).unwrap_or_else(dash),
        note,
    ]
}

/// A jig on one line: where it is, then what it said.
fn summary(jig: &Jig) -> String {
    let mut parts = vec![shown_place(jig)];
    if let (Some(_), Some(u)) = (&jig.port, &jig.usb) {
        parts.push(format!("usb {} at {}", u.id, u.bus_path));
    }
    match &jig.hello {
        Some(h) => {
            if let Some(s) = &h.serial {
                parts.push(format!("serial {s}"));
            }
            parts.push(format!("firmware {} protocol {}", h.firmware, h.protocol));
            if let Some(n) = h.slots {
                parts.push(format!("slots {n}"));
            }
            if h.simulated {
                parts.push("simulated".into());
            }
        }
        None => {
            if let Some(s) = jig.usb.as_ref().and_then(|u| u.serial.as_ref()) {
                parts.push(format!("serial {s}"));
            }
        }
    }
    parts.join("  ")
}

/// Where a jig is, for its problem line.
fn shown_place(jig: &Jig) -> String {
    match (&jig.port, &jig.usb) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(u)) => format!("USB {} at {}", u.id, u.bus_path),
        (None, None) => "?".into(),
    }
}

/// Columns padded to their widest cell.
fn table(rows: &[[String; 8]]) -> String {
    let mut widths = HEADER.map(str::len);
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(HEADER.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
