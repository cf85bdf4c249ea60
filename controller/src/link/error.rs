//! Errors of a link; each names the port and says what to do.

use std::time::Duration;

use benchline_protocol::JigError;

/// Why a request or the link failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// The path could not be opened as a serial port.
    #[error("cannot open {port} as a serial port: {detail}; check the path and that no other program holds the port")]
    Open {
        /// Port.
        port: String,
        /// OS error.
        detail: String,
    },
    /// Something answered, but not a Benchline jig.
    #[error("{port} is not a Benchline jig ({detail}); check that the jig is powered and that this is its port (a jig shows up as /dev/ttyACM* or under /dev/serial/by-id/)")]
    NotAJig {
        /// Port.
        port: String,
        /// What was seen.
        detail: String,
    },
    /// The jig and this benchctl disagree about the protocol: an answer of the wrong kind, a
    /// request that cannot be encoded or a procedure this benchctl cannot drive.
    #[error("{port}: {detail}; the jig's firmware and this benchctl do not agree: update one to match the other")]
    Protocol {
        /// Port.
        port: String,
        /// What happened.
        detail: String,
    },
    /// The jig speaks another protocol version or schema.
    #[error("the jig on {port} runs firmware {firmware} with protocol {theirs} (schema {their_hash:016x}); this benchctl speaks protocol {ours} (schema {our_hash:016x}); update the jig to firmware that speaks protocol {ours}, or use the benchctl release that matches its firmware")]
    Incompatible {
        /// Port.
        port: String,
        /// Firmware version of the jig.
        firmware: String,
        /// Jig's protocol version.
        theirs: u16,
        /// Ours.
        ours: u16,
        /// Jig's schema hash.
        their_hash: u64,
        /// Ours.
        our_hash: u64,
    },
    /// The jig cannot run the plan.
    #[error("the jig on {port} cannot run this plan: {detail}")]
    Unsuitable {
        /// Port.
        port: String,
        /// Why, and what to do.
        detail: String,
    },
    /// The jig says it is simulated (`Hello::simulated`) and the records may not come from one.
    #[error("the jig on {port} is refused: {detail}")]
    Simulated {
        /// Port.
        port: String,
        /// Why (the record store's refusal), and what to do.
        detail: String,
    },
    /// After a reconnect or a reset, the port answered as another jig (another serial) or as a
    /// jig the line may no longer use (its firmware, protocol or simulated flag changed): the
    /// link ends and the bench stops using it.
    #[error("the jig on {port} came back changed and is no longer used: {detail}")]
    Changed {
        /// Port.
        port: String,
        /// What changed, and what to do.
        detail: String,
    },
    /// No answer in time.
    #[error("{procedure} on {port}: no answer within {} ms, lost frames asked for again; check the jig's cable and power", after.as_millis())]
    Timeout {
        /// Port.
        port: String,
        /// Procedure.
        procedure: &'static str,
        /// The deadline of the exchange.
        after: Duration,
    },
    /// The answer was lost, and by the time the host asked for it again the jig could no
    /// longer tell whether it had run the request: the step is not known to have run.
    #[error("{procedure} on {port}: its answer was lost and the jig no longer keeps it, so whether it ran is unknown; the step is aborted and measured again")]
    Forgotten {
        /// Port.
        port: String,
        /// Procedure.
        procedure: &'static str,
    },
    /// The link lost too many frames and the jig was taken out of service.
    #[error("the jig on {port} is out of service: {detail}; check its USB cable, hub and power; it comes back by itself when it answers cleanly again")]
    OutOfService {
        /// Port.
        port: String,
        /// Why.
        detail: String,
    },
    /// The jig restarted while the request was in flight.
    #[error("the jig on {port} restarted while a request was in flight; the procedure was lost and must be repeated")]
    JigReset {
        /// Port.
        port: String,
    },
    /// The port went away while the request was in flight.
    #[error("the jig on {port} was disconnected: {detail}; reconnect its USB cable")]
    Disconnected {
        /// Port.
        port: String,
        /// What the OS said.
        detail: String,
    },
    /// The jig answered with an error.
    #[error("{procedure} on {port} failed on the jig: {}", jig_error_text(error))]
    Jig {
        /// Port.
        port: String,
        /// Procedure.
        procedure: &'static str,
        /// The jig's error.
        error: JigError,
    },
    /// The link was closed.
    #[error("the link to {port} is closed")]
    Closed {
        /// Port.
        port: String,
    },
}

impl LinkError {
    /// True for failures of the link rather than of the measurement: worth repeating the step.
    /// A busy channel counts: it means an earlier attempt the host gave up on is still running,
    /// and the step aborts it before trying again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LinkError::Timeout { .. }
                | LinkError::Forgotten { .. }
                | LinkError::JigReset { .. }
                | LinkError::Disconnected { .. }
                | LinkError::Jig {
                    error: JigError::Busy(_),
                    ..
                }
        )
    }
}

/// A jig error in words.
pub fn jig_error_text(e: &JigError) -> String {
    match e {
        JigError::Busy(c) => {
            format!("the {} channel is busy with another procedure", c.as_str())
        }
        JigError::BadRequest => {
            "the jig refused the request as malformed (slot or parameter out of range)".into()
        }
        JigError::Unsupported => "this jig has no instrument for the procedure".into(),
        JigError::NoPhone => "no phone in the slot".into(),
        JigError::HardwareFault(i) => {
            format!("instrument {i:?} did not answer or answered out of range; service the jig")
        }
        JigError::Aborted => "the procedure was aborted (phone removed or abort requested)".into(),
        JigError::NoScan => "no touch scan to read: run screen.touch first".into(),
        JigError::UnknownSeq => {
            "the jig no longer holds that reply (never received, or too old)".into()
        }
    }
}
