//! Whether a jig fits the line: the plan's needs (its kind, the firmware range, the protocol)
//! and the record store's rule on simulated jigs. The same check runs when the line starts and
//! on every later handshake of the jig (a reconnect, a reset, a reflash): a jig that no longer
//! fits is not used ([`crate::link::Link::require`]).

use std::sync::Arc;

use benchline_protocol::Hello;

use super::sink::RecordSink;
use crate::link::{Link, LinkError};
use crate::plan::Plan;

/// Why a jig does not fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Unfit {
    /// The plan cannot run on it; why, and what to do.
    Plan(String),
    /// The store may not keep the records of its (simulated) phones; why, and what to do.
    Store(String),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Plan(d) | Unfit::Store(d) => f.write_str(d),
        }
    }
}

/// Checks the jig that announced `h`.
pub fn check(plan: &Plan, sink: &dyn RecordSink, h: &Hello) -> Result<(), Unfit> {
    suits(plan, h).map_err(Unfit::Plan)?;
    if h.simulated {
        sink.admits_simulated(&h.jig_serial).map_err(Unfit::Store)?;
    }
    Ok(())
}

/// The check a run makes of each jig it would take in: the link's jig now and, once taken in,
/// the jig of every later handshake. A refused link is closed.
pub fn checker(
    plan: Arc<Plan>,
    sink: Arc<dyn RecordSink>,
) -> impl Fn(&Link) -> Result<(), LinkError> + Send + Sync {
    move |link: &Link| {
        // Required first, then checked: a handshake in between is checked either way.
        let (p, s) = (plan.clone(), sink.clone());
        link.require(Arc::new(move |h: &Hello| {
            check(&p, s.as_ref(), h).map_err(|u| u.to_string())
        }));
        let Some(h) = link.hello() else {
            return Ok(());
        };
        check(&plan, sink.as_ref(), &h).map_err(|unfit| {
            link.close();
            let port = link.port().to_string();
            match unfit {
                Unfit::Plan(detail) => LinkError::Unsuitable { port, detail },
                Unfit::Store(detail) => LinkError::Simulated { port, detail },
            }
        })
    }
}

/// Checks that the plan may run on the jig: its kind, firmware and protocol versions.
fn suits(plan: &Plan, h: &Hello) -> Result<(), String> {
    let kind = h.jig_kind.as_str();
    if !plan.jig_kinds.iter().any(|k| k == kind) {
        return Err(format!("it is a {kind} jig and plan {} needs a {} jig; use a plan for this jig or move the phones to a matching bench", plan.id, plan.jig_kinds.join(" or ")));
    }
    if let Some(refusal) = plan
        .firmware
        .as_ref()
        .and_then(|range| outside_range(plan, range, h))
    {
        return Err(refusal);
    }
    if h.protocol_version < plan.min_protocol {
        return Err(format!(
            "it speaks protocol {} and plan {} needs {} or newer; update the jig's firmware",
            h.protocol_version, plan.id, plan.min_protocol
        ));
    }
    Ok(())
}

/// Why a jig's firmware is outside the plan's range `range`, and the `benchctl flash` command
/// that puts an accepted image on it; `None` when the plan accepts it.
fn outside_range(plan: &Plan, range: &semver::VersionReq, h: &Hello) -> Option<String> {
    let version = h.firmware_version.as_str();
    let serial = h.jig_serial.as_str();
    let runs = match semver::Version::parse(version) {
        Ok(v) if range.matches(&v) => return None,
        Ok(_) => format!("jig {serial} runs firmware {version}"),
        Err(_) => format!(
            "jig {serial} announces firmware version `{version}`, which is not a semver version, so no range can accept it"
        ),
    };
    let flash = format!(
        "flash it with `benchctl flash <ELF> --board firmware/boards/<board> --jig {serial}` (an image whose version the plan accepts), or run a plan that accepts {version}"
    );
    let simulated = if h.simulated {
        format!(
            " (the jig is simulated and announces the version it was built as: `run --sim` and `benchctl sim-jig` are this benchctl, {}; a board under QEMU is its image: run a plan that accepts the version it announces)",
            env!("CARGO_PKG_VERSION")
        )
    } else {
        String::new()
    };
    Some(format!(
        "{runs}; plan {} {} accepts {range}: {flash}{simulated}",
        plan.id, plan.version
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::run::NoStore;

    fn hello(version: &str, simulated: bool) -> Hello {
        Hello {
            protocol_version: benchline_protocol::PROTOCOL_VERSION,
            schema_hash: benchline_protocol::schema_hash(),
            firmware_version: version.try_into().unwrap(),
            jig_kind: benchline_protocol::JigKind::Combo,
            jig_serial: "J-7".try_into().unwrap(),
            slots: 1,
            instruments: Default::default(),
            boot_id: 1,
            simulated,
        }
    }

    /// The standard plan with its `firmware` line replaced by `head` (lines of `[plan]`).
    fn plan(head: &str) -> Plan {
        let text = crate::plan::STANDARD.replace("firmware = \">=0.1, <0.2\"\n", head);
        Plan::parse(&text, "p.toml").unwrap()
    }

    #[test]
    fn min_firmware_is_the_same_range_check_and_refuses_a_version_that_is_not_semver() {
        let p = plan("min_firmware = \"0.1.0\"\n");
        assert_eq!(p.firmware.as_ref().unwrap().to_string(), ">=0.1.0");
        assert_eq!(check(&p, &NoStore, &hello("0.1.3", false)), Ok(()));
        let Err(Unfit::Plan(old)) = check(&p, &NoStore, &hello("0.0.9", false)) else {
            panic!("0.0.9 accepted")
        };
        assert!(
            old.contains("jig J-7 runs firmware 0.0.9; plan standard-refurb 2.1.0 accepts >=0.1.0"),
            "{old}"
        );
        // Before, a version that did not parse was taken for 0.0.0 or let through.
        for bad in ["1.2", "v0.1.0", "latest"] {
            let Err(Unfit::Plan(why)) = check(&p, &NoStore, &hello(bad, false)) else {
                panic!("{bad} accepted")
            };
            assert!(
                why.contains(&format!(
                    "announces firmware version `{bad}`, which is not a semver version"
                )),
                "{why}"
            );
        }
    }

    #[test]
    fn both_forms_apply_when_both_are_given() {
        let p = plan("firmware = \">=0.1, <0.3\"\nmin_firmware = \"0.2.0\"\n");
        assert_eq!(check(&p, &NoStore, &hello("0.2.5", false)), Ok(()));
        assert!(check(&p, &NoStore, &hello("0.1.9", false)).is_err());
        assert!(check(&p, &NoStore, &hello("0.3.0", false)).is_err());
        // Neither: any version, as before.
        let any = plan("");
        assert!(any.firmware.is_none());
        assert_eq!(check(&any, &NoStore, &hello("whatever", false)), Ok(()));
    }

    #[test]
    fn a_simulated_jig_outside_the_range_is_told_to_run_a_plan_for_the_version_it_announces() {
        let p = plan("firmware = \">=0.3\"\n");
        let Err(Unfit::Plan(why)) = check(&p, &NoStore, &hello("0.2.0", true)) else {
            panic!("accepted")
        };
        assert!(why.contains("the jig is simulated"), "{why}");
        assert!(why.contains("a board under QEMU is its image"), "{why}");
        assert!(
            !why.contains("runs the firmware of this benchctl"),
            "not every simulated jig is this benchctl: {why}"
        );
    }

    /// A store that keeps no records of simulated jigs.
    struct Production;

    impl RecordSink for Production {
        fn commit(&self, _record: &crate::run::PhoneRecord) -> crate::run::sink::Committing {
            Box::pin(std::future::ready(Ok(None)))
        }

        fn admits_simulated(&self, jig: &str) -> Result<(), String> {
            Err(format!("{jig} is simulated and this is a production store"))
        }
    }

    #[test]
    fn a_simulated_jig_is_refused_where_the_store_keeps_none() {
        let p = plan("");
        assert_eq!(
            check(&p, &Production, &hello("0.1.0", true)),
            Err(Unfit::Store(
                "J-7 is simulated and this is a production store".into()
            ))
        );
        assert_eq!(check(&p, &Production, &hello("0.1.0", false)), Ok(()));
    }
}
