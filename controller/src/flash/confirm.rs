//! The jig around the flashing: the board's jigs greeted before the image is written, then the
//! wait (with a deadline) for the flashed jig's `Hello` after the reset.
//!
//! The jig's serial port is the one named with `--port`, else the port of a USB device with the
//! board's VID/PID (and, with `--jig`, that USB serial number). Before anything is written, the
//! candidates are greeted: several of them with neither `--port` nor `--jig` is refused (nothing
//! says which jig the probe is wired to), and the boot id of the one that answers is kept. After
//! the reset, a jig counts as the flashed one only if it restarted: its `Hello` carries another
//! boot id than any seen before, or no jig answered before (a blank chip). A jig that still
//! answers with the old boot id was not reset: the probe is wired to another chip. A USB jig's
//! port goes away at the reset and comes back when the new firmware has started its USB class,
//! so the ports are looked for again on every tick until the deadline.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::discovery::hello::{Greeter, JigHello};
use crate::discovery::known::UsbId;
use crate::discovery::sysfs::SerialPorts;

use super::FlashError;

/// A port where the jig may be, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The port.
    pub port: PathBuf,
    /// What the jig said, when it said something.
    pub hello: Option<JigHello>,
    /// What went wrong, when something did.
    pub problem: Option<String>,
}

/// Something that finds the board's jigs and greets them.
pub trait JigFinder {
    /// True when the user named the jig (`--port`, `--jig`): then the candidates are that jig.
    fn named(&self) -> bool;
    /// The candidate ports now, each greeted once (within the greeter's deadline).
    fn look(&self) -> impl Future<Output = Vec<Seen>> + Send;
}

/// Where the flashed jig is looked for.
#[derive(Debug, Clone)]
pub struct Whereabouts {
    /// The port named with `--port`.
    pub port: Option<PathBuf>,
    /// The jig's USB serial number, named with `--jig`.
    pub jig: Option<String>,
    /// The board's USB identity.
    pub usb: Option<UsbId>,
}

/// The real finder: sysfs for the ports, the link for the `Hello`.
#[derive(Debug, Clone)]
pub struct PortFinder<S, G> {
    /// Where the jig is.
    pub whereabouts: Whereabouts,
    /// Serial ports and their USB information.
    pub ports: S,
    /// Asks a port for its `Hello`.
    pub greeter: G,
}

impl<S: SerialPorts + Sync, G: Greeter + Sync> PortFinder<S, G> {
    /// The ports the jig may be on now.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let w = &self.whereabouts;
        if let Some(p) = &w.port {
            return vec![p.clone()];
        }
        let Some(id) = w.usb else {
            return Vec::new();
        };
        self.ports
            .usb_ports()
            .into_iter()
            .filter(|p| {
                p.usb.as_ref().is_some_and(|u| {
                    u.id == id
                        && w.jig
                            .as_deref()
                            .is_none_or(|s| u.serial.as_deref() == Some(s))
                })
            })
            .map(|p| p.device)
            .collect()
    }
}

impl<S: SerialPorts + Sync, G: Greeter + Sync> JigFinder for PortFinder<S, G> {
    fn named(&self) -> bool {
        self.whereabouts.port.is_some() || self.whereabouts.jig.is_some()
    }

    async fn look(&self) -> Vec<Seen> {
        let ports = self.candidates();
        let greetings =
            futures::future::join_all(ports.iter().map(|p| self.greeter.greet(p))).await;
        ports
            .into_iter()
            .zip(greetings)
            .map(|(port, g)| Seen {
                port,
                hello: g.hello,
                problem: g.problem,
            })
            .collect()
    }
}

/// How long the flashed jig gets to answer, and how often it is looked for.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// From the reset to the deadline.
    pub within: Duration,
    /// Pause between two looks.
    pub tick: Duration,
}

/// The board's jigs as they were before the image was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Before {
    /// The candidate ports and what they answered.
    pub seen: Vec<Seen>,
}

impl Before {
    /// The `Hello`s heard before flashing.
    fn hellos(&self) -> impl Iterator<Item = &JigHello> {
        self.seen.iter().filter_map(|s| s.hello.as_ref())
    }

    /// True when `hello` comes from a jig that (re)started since: no jig answered before (a
    /// blank chip), or its boot id is none of those heard before. A `Hello` without a boot id
    /// (another protocol) cannot tell, and counts only when its firmware changed.
    pub fn restarted(&self, hello: &JigHello) -> bool {
        let mut earlier = self.hellos().peekable();
        if earlier.peek().is_none() {
            return true;
        }
        match hello.boot_id {
            Some(id) => self.hellos().all(|e| e.boot_id != Some(id)),
            None => self
                .hellos()
                .all(|e| e.boot_id.is_none() && e.firmware != hello.firmware),
        }
    }

    /// What was heard, for the person flashing.
    pub fn describe(&self) -> String {
        if self.seen.is_empty() {
            return "no jig of the board is on this machine yet (a blank chip, or its port is elsewhere)".into();
        }
        self.seen
            .iter()
            .map(|s| match &s.hello {
                Some(h) => format!(
                    "jig {} on {} runs firmware {}{}",
                    h.serial.as_deref().unwrap_or("?"),
                    s.port.display(),
                    h.firmware,
                    h.boot_id
                        .map(|b| format!(" (boot id {b:#010x})"))
                        .unwrap_or_default()
                ),
                None => format!("{} does not answer yet", s.port.display()),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Greets the board's jigs before anything is written. Several candidates with no jig named
/// is refused: nothing would say which jig the probe is wired to.
pub async fn before<F: JigFinder>(finder: &F) -> Result<Before, FlashError> {
    let seen = finder.look().await;
    if seen.len() > 1 && !finder.named() {
        return Err(FlashError::SeveralJigs {
            written: false,
            ports: ports_listing(seen.iter().map(|s| &s.port)),
        });
    }
    Ok(Before { seen })
}

fn ports_listing<'a>(ports: impl Iterator<Item = &'a PathBuf>) -> String {
    ports
        .map(|p| format!("  {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the flashed jig said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// Its port.
    pub port: PathBuf,
    /// Its `Hello`.
    pub hello: JigHello,
}

/// After the reset: waits for a jig that restarted (see [`Before::restarted`]) and checks it
/// runs `version`.
pub async fn confirm<F: JigFinder>(
    finder: &F,
    before: &Before,
    version: &str,
    wait: Wait,
) -> Result<Confirmed, FlashError> {
    let deadline = tokio::time::Instant::now() + wait.within;
    let mut problem = None;
    let mut unchanged: Option<(PathBuf, JigHello)> = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(seen) = tokio::time::timeout(left, finder.look()).await else {
            break;
        };
        let mut restarted = Vec::new();
        for s in seen {
            match (s.hello, s.problem) {
                (Some(h), None) if before.restarted(&h) => restarted.push((s.port, h)),
                (Some(h), None) => unchanged = Some((s.port, h)),
                (_, p) => problem = p.or(problem),
            }
        }
        if restarted.len() > 1 {
            return Err(FlashError::SeveralJigs {
                written: true,
                ports: ports_listing(restarted.iter().map(|(p, _)| p)),
            });
        }
        if let Some((port, hello)) = restarted.pop() {
            if hello.firmware != version {
                return Err(FlashError::WrongVersion {
                    port: port.display().to_string(),
                    running: hello.firmware,
                    flashed: version.to_string(),
                });
            }
            return Ok(Confirmed { port, hello });
        }
        if tokio::time::Instant::now() + wait.tick >= deadline {
            break;
        }
        tokio::time::sleep(wait.tick).await;
    }
    match unchanged {
        Some((port, hello)) => Err(FlashError::NotRestarted {
            port: port.display().to_string(),
            firmware: hello.firmware,
            boot_id: hello
                .boot_id
                .map(|b| format!("boot id {b:#010x}"))
                .unwrap_or_else(|| "no boot id".into()),
            within: wait.within,
        }),
        None => Err(FlashError::NeverAnswered {
            within: wait.within,
            detail: problem.unwrap_or_else(|| "no serial port of the board appeared".into()),
        }),
    }
}
