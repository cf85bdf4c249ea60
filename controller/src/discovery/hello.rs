//! What a jig says about itself: its `Hello`, asked through the controller's link.
//!
//! [`LinkGreeter`] opens the port with [`Link::open`] (the same handshake as a run, bounded by
//! its handshake timeout), keeps the `Hello` and lets go of the port. A jig whose protocol does
//! not match still says its firmware and protocol versions: they are kept with the problem.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::link::{Link, LinkConfig, LinkError};

/// A jig's own account of itself, from its `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JigHello {
    /// The jig's serial number (unknown when it spoke another protocol).
    pub serial: Option<String>,
    /// Its firmware version (semver).
    pub firmware: String,
    /// Its protocol version.
    pub protocol: u16,
    /// Its number of slots (unknown when it spoke another protocol).
    pub slots: Option<u8>,
    /// True for a simulated jig.
    pub simulated: bool,
    /// Its boot id, new at every start (unknown when it spoke another protocol).
    pub boot_id: Option<u32>,
}

/// The answer of a port to the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// What the jig said, when it said something.
    pub hello: Option<JigHello>,
    /// What went wrong, and what to do (no answer, another protocol, the port in use).
    pub problem: Option<String>,
}

/// Something that asks a port for its jig's `Hello`.
pub trait Greeter {
    /// The greeting of the jig at `port`, within the greeter's deadline.
    fn greet(&self, port: &Path) -> impl Future<Output = Greeting> + Send;
}

/// The real greeter: the controller's link.
#[derive(Debug, Clone)]
pub struct LinkGreeter {
    /// How long a jig gets to answer.
    pub within: Duration,
}

impl Default for LinkGreeter {
    fn default() -> Self {
        LinkGreeter {
            within: Duration::from_secs(2),
        }
    }
}

impl Greeter for LinkGreeter {
    fn greet(&self, port: &Path) -> impl Future<Output = Greeting> + Send {
        let config = LinkConfig {
            handshake_timeout: self.within,
            ..LinkConfig::default()
        };
        let port = port.to_string_lossy().into_owned();
        async move {
            match Link::open(&port, config).await {
                Ok(link) => {
                    let hello = link.hello();
                    link.shutdown(Duration::from_secs(1)).await;
                    match hello {
                        Some(h) => Greeting {
                            hello: Some(JigHello {
                                serial: Some(h.jig_serial.as_str().to_string()),
                                firmware: h.firmware_version.as_str().to_string(),
                                protocol: h.protocol_version,
                                slots: Some(h.slots),
                                simulated: h.simulated,
                                boot_id: Some(h.boot_id),
                            }),
                            problem: None,
                        },
                        None => Greeting {
                            hello: None,
                            problem: Some("the link opened without a handshake".into()),
                        },
                    }
                }
                Err(e) => {
                    // Another protocol: the jig still said which firmware and protocol it runs.
                    let hello = match &e {
                        LinkError::Incompatible {
                            firmware, theirs, ..
                        } => Some(JigHello {
                            serial: None,
                            firmware: firmware.clone(),
                            protocol: *theirs,
                            slots: None,
                            simulated: false,
                            boot_id: None,
                        }),
                        _ => None,
                    };
                    Greeting {
                        hello,
                        problem: Some(e.to_string()),
                    }
                }
            }
        }
    }
}
