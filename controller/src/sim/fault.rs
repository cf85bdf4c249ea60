//! Faults a simulated jig can inject, each on the n-th request of a procedure:
//! `KIND@PROCEDURE[#N]`, e.g. `corrupt@battery.gauge`, `reset@battery.dcir#2`, `hang=3000@identify`.

use std::time::Duration;

/// Request names a fault can be attached to: the procedure table's names
/// (`benchline_protocol::Procedure::name`) and those of the other requests.
const PROCEDURES: [&str; 15] = benchline_protocol::Request::PROCEDURES;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// One byte of the reply frame is lost.
    Drop,
    /// One bit of the reply frame is flipped.
    Corrupt,
    /// Only the first half of the reply frame is sent, then the delimiter.
    Truncate,
    /// Random bytes are written to the line before the reply.
    Garbage,
    /// The jig restarts (new boot id) instead of answering; the request is lost.
    Reset,
    /// The jig stops serving the line for this long, then goes on.
    Hang(Duration),
    /// The USB cable is pulled instead of answering: the PTY closes; after this long a new one
    /// appears at the same device link and the jig boots again.
    Unplug(Duration),
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// On which procedure (`identify`, `battery.gauge`, ...).
    pub procedure: String,
    /// On its n-th request, from 1.
    pub nth: u32,
}

/// A fault specification that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad fault {spec:?}: {why}; write KIND@PROCEDURE[#N] with KIND one of drop, corrupt, truncate, garbage, reset, hang=MS, unplug=MS (e.g. corrupt@battery.gauge#2)")]
pub struct FaultParseError {
    spec: String,
    why: String,
}

impl std::str::FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| FaultParseError {
            spec: spec.into(),
            why: why.into(),
        };
        let (kind, rest) = spec.split_once('@').ok_or(err("missing @PROCEDURE"))?;
        let (procedure, nth) = match rest.split_once('#') {
            Some((p, n)) => (
                p,
                n.parse::<u32>()
                    .map_err(|_| err("N is not a positive number"))?,
            ),
            None => (rest, 1),
        };
        if nth == 0 {
            return Err(err("N counts from 1"));
        }
        if !PROCEDURES.contains(&procedure) {
            return Err(err(&format!(
                "unknown procedure; one of {}",
                PROCEDURES.join(", ")
            )));
        }
        let ms = |v: Option<&str>| -> Result<Duration, FaultParseError> {
            v.ok_or(err("missing =MS"))?
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| err("MS is not a number"))
        };
        let (name, value) = match kind.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (kind, None),
        };
        let kind = match name {
            "drop" => FaultKind::Drop,
            "corrupt" => FaultKind::Corrupt,
            "truncate" => FaultKind::Truncate,
            "garbage" => FaultKind::Garbage,
            "reset" => FaultKind::Reset,
            "hang" => FaultKind::Hang(ms(value)?),
            "unplug" => FaultKind::Unplug(ms(value)?),
            _ => return Err(err("unknown kind")),
        };
        Ok(Fault {
            kind,
            procedure: procedure.into(),
            nth,
        })
    }
}

/// Applies a byte-level fault to one encoded reply frame (delimiter included).
pub(crate) fn mangle(kind: &FaultKind, frame: &[u8]) -> Vec<u8> {
    let mid = frame.len() / 2;
    let mut out = frame.to_vec();
    match kind {
        FaultKind::Drop => {
            out.remove(mid);
        }
        FaultKind::Corrupt => out[mid] ^= if out[mid] == 0x01 { 0x02 } else { 0x01 },
        FaultKind::Truncate => {
            out.truncate(mid);
            out.push(0);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() -> Result<(), FaultParseError> {
        let f: Fault = "hang=250@battery.dcir#3".parse()?;
        assert_eq!(
            f,
            Fault {
                kind: FaultKind::Hang(Duration::from_millis(250)),
                procedure: benchline_protocol::Procedure::BatteryDcir.name().into(),
                nth: 3
            }
        );
        assert_eq!("corrupt@identify".parse::<Fault>()?.nth, 1);
        for bad in [
            "corrupt",
            "melt@identify",
            "hang@identify",
            "drop@identify#0",
            "drop@#2",
            "drop@battery.gaug",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn mangled_frames_never_decode() -> Result<(), benchline_protocol::FrameError> {
        let mut buf = [0u8; benchline_protocol::MAX_ENCODED_FRAME];
        let packet = benchline_protocol::Packet {
            seq: 3,
            msg: benchline_protocol::JigMsg::Reply(benchline_protocol::Reply::Pong { nonce: 77 }),
        };
        let n = benchline_protocol::encode_frame(&packet, &mut buf)?;
        for kind in [FaultKind::Drop, FaultKind::Corrupt, FaultKind::Truncate] {
            let bad = mangle(&kind, &buf[..n]);
            for piece in bad.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                assert!(
                    benchline_protocol::decode_frame::<benchline_protocol::JigMsg>(piece).is_err(),
                    "{kind:?}"
                );
            }
        }
        Ok(())
    }
}
