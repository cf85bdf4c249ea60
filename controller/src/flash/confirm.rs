//! After the reset: waiting (with a deadline) for the flashed jig's `Hello`, and checking that
//! it runs the version just flashed.
//!
//! The jig's serial port is the one named with `--port`, else the port of a USB device with the
//! board's VID/PID (and, with `--jig`, that USB serial number). A USB jig's port goes away at the
//! reset and comes back when the new firmware has started its USB class, so the port is looked
//! for again on every tick until the deadline.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::discovery::hello::{Greeter, JigHello};
use crate::discovery::known::UsbId;
use crate::discovery::sysfs::SerialPorts;

use super::FlashError;

/// How the jig was found after the reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// A port answered.
    Answered(PathBuf, JigHello),
    /// Nothing answered before the deadline; the last problem seen, if any.
    Silent(Option<String>),
    /// Several jigs of the board are attached and nothing says which one was flashed.
    Several(Vec<PathBuf>),
}

/// Something that finds the flashed jig and gets its `Hello`.
pub trait JigFinder {
    /// Waits at most `within` for the jig's `Hello`.
    fn wait(&self, within: Duration) -> impl Future<Output = Waited> + Send;
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

/// The real finder: sysfs for the port, the link for the `Hello`.
#[derive(Debug, Clone)]
pub struct PortFinder<S, G> {
    /// Where the jig is.
    pub whereabouts: Whereabouts,
    /// Serial ports and their USB information.
    pub ports: S,
    /// Asks a port for its `Hello`.
    pub greeter: G,
    /// Pause between two looks.
    pub tick: Duration,
}

impl<S: SerialPorts + Sync, G: Greeter + Sync> PortFinder<S, G> {
    /// The ports the jig may be on now.
    fn candidates(&self) -> Vec<PathBuf> {
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
    async fn wait(&self, within: Duration) -> Waited {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = None;
        loop {
            let ports = self.candidates();
            if ports.len() > 1 {
                return Waited::Several(ports);
            }
            if let Some(port) = ports.into_iter().next() {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let greeting = tokio::time::timeout(left, self.greeter.greet(&port)).await;
                match greeting {
                    Ok(g) => match (g.hello, g.problem) {
                        (Some(h), None) => return Waited::Answered(port, h),
                        (_, problem) => last = problem,
                    },
                    Err(_) => return Waited::Silent(last),
                }
            }
            if tokio::time::Instant::now() + self.tick >= deadline {
                return Waited::Silent(last);
            }
            tokio::time::sleep(self.tick).await;
        }
    }
}

/// What the flashed jig said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// Its port.
    pub port: PathBuf,
    /// Its `Hello`.
    pub hello: JigHello,
}

/// Waits for the jig and checks it runs `version`.
pub async fn confirm<F: JigFinder>(
    finder: &F,
    version: &str,
    within: Duration,
) -> Result<Confirmed, FlashError> {
    match finder.wait(within).await {
        Waited::Answered(port, hello) => {
            if hello.firmware != version {
                return Err(FlashError::WrongVersion {
                    port: port.display().to_string(),
                    running: hello.firmware,
                    flashed: version.to_string(),
                });
            }
            Ok(Confirmed { port, hello })
        }
        Waited::Silent(last) => Err(FlashError::NeverAnswered {
            within,
            detail: last.unwrap_or_else(|| "no serial port of the board appeared".into()),
        }),
        Waited::Several(ports) => Err(FlashError::SeveralJigs {
            ports: ports
                .iter()
                .map(|p| format!("  {}", p.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}
