//! Which jig stands on which bench, decided once the jigs have answered: without a station
//! file, each port is a bench of its own in the order given (`bench-1`, ...); with one, each jig
//! goes to the bench that lists the serial it announces, whatever port it answered on. A jig the
//! plan or the store refuses, a jig the station does not list and a bench whose jig did not
//! answer are each told as line events and alarms; the other benches go on.

use std::sync::Arc;

use super::event::{Alarm, Events, LineEvent};
use super::{RunOptions, Summary};
use crate::link::{Link, LinkError};
use crate::station::{mapping, Station};

/// A jig taken into the line.
pub struct Placed {
    /// Its bench index (the run's `SlotId::bench`).
    pub bench: usize,
    /// The bench's name, written in records.
    pub name: String,
    /// The slots in use (`None`: all the jig has).
    pub slots: Option<Vec<u8>>,
    /// Its link.
    pub link: Link,
}

/// Checks a jig the line would use (the plan's needs, the store's rules), closing it when
/// refused.
pub type Check<'a> = dyn Fn(&Link) -> Result<(), LinkError> + Send + Sync + 'a;

/// Places the jigs that were opened (`opened`, in the order of `opts.ports`), telling the line
/// about every jig or bench left out; `summary.failed_jigs` gets each reason.
pub async fn place(
    opts: &RunOptions,
    opened: Vec<Result<Link, LinkError>>,
    check: &Check<'_>,
    events: &Events,
    summary: &mut Summary,
) -> Vec<Placed> {
    match &opts.station_file {
        None => by_port(opts, opened, check, events, summary).await,
        Some(station) => by_serial(opts, station, opened, check, events, summary).await,
    }
}

/// Each port a bench of its own, numbered in order.
async fn by_port(
    opts: &RunOptions,
    opened: Vec<Result<Link, LinkError>>,
    check: &Check<'_>,
    events: &Events,
    summary: &mut Summary,
) -> Vec<Placed> {
    let mut out = Vec::new();
    for (bench, r) in opened.into_iter().enumerate() {
        let name = format!("bench-{}", bench + 1);
        match r.and_then(|l| check(&l).map(|_| l)) {
            Ok(link) => out.push(Placed {
                bench,
                name,
                slots: None,
                link,
            }),
            Err(e) => {
                let port = opts.ports.get(bench).cloned().unwrap_or_default();
                refuse(bench, &name, &port, &e, events, summary).await;
            }
        }
    }
    out
}

/// Each jig on the bench that lists its serial.
async fn by_serial(
    opts: &RunOptions,
    station: &Arc<Station>,
    opened: Vec<Result<Link, LinkError>>,
    check: &Check<'_>,
    events: &Events,
    summary: &mut Summary,
) -> Vec<Placed> {
    let positions = station.positions();
    let mut links = Vec::new();
    let mut silent = Vec::new();
    for r in opened {
        match r {
            Ok(l) => links.push(l),
            // A candidate port that is no jig (or a jig that does not answer): its bench, if
            // any, is told missing below, naming what the ports said.
            Err(e) => {
                tracing::warn!("{e}");
                summary.failed_jigs.push(e.to_string());
                silent.push(e.to_string());
            }
        }
    }
    let serials: Vec<String> = links
        .iter()
        .map(|l| {
            l.hello()
                .map(|h| h.jig_serial.to_string())
                .unwrap_or_default()
        })
        .collect();
    let found: Vec<&str> = serials.iter().map(String::as_str).collect();
    let m = mapping::map(&positions, &found);
    for i in &m.unknown {
        let (link, serial) = (&links[*i], &serials[*i]);
        link.close();
        let what = format!(
            "unknown jig {serial} on {}: station {} does not list it, so it is not used",
            link.port(),
            station.id
        );
        tracing::error!("{what}");
        summary.failed_jigs.push(what.clone());
        events
            .send(LineEvent::Alarm(Alarm {
                key: format!("unknown jig {serial}"),
                bench: None,
                what,
                fix: format!("add it to its bench in the station file ([[bench.jig]] serial = \"{serial}\") and restart the line, or unplug it"),
            }))
            .await;
    }
    for (i, pos) in &m.twice {
        let (link, serial) = (&links[*i], &serials[*i]);
        link.close();
        let what = format!(
            "a second jig announces serial {serial} (on {}); bench {} uses the first one, this one is not used",
            link.port(),
            positions[*pos].bench
        );
        tracing::error!("{what}");
        summary.failed_jigs.push(what.clone());
        events
            .send(LineEvent::Alarm(Alarm {
                key: format!("jig {serial} twice"),
                bench: Some(*pos),
                what,
                fix: "every jig needs its own serial number: unplug one of them and give it a serial of its own (flash it again)".into(),
            }))
            .await;
    }
    let mut links: Vec<Option<Link>> = links.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for (pos, i) in &m.placed {
        let Some(link) = links[*i].take() else {
            continue;
        };
        let p = &positions[*pos];
        let port = link.port().to_string();
        match check(&link) {
            Ok(()) => out.push(Placed {
                bench: *pos,
                name: p.bench.clone(),
                slots: p.slots.clone(),
                link,
            }),
            Err(e) => refuse(*pos, &p.bench, &port, &e, events, summary).await,
        }
    }
    for pos in &m.missing {
        let p = &positions[*pos];
        let looked = if opts.ports.is_empty() {
            "no port to look at: plug the jig in, or name its port in the station file's ports"
                .to_string()
        } else if silent.is_empty() {
            format!("looked at {}", opts.ports.join(", "))
        } else {
            format!(
                "looked at {}; {} port(s) did not answer as a jig: {}",
                opts.ports.join(", "),
                silent.len(),
                silent.join("; ")
            )
        };
        let what = format!("{}: jig {} is missing ({looked})", p.bench, p.serial);
        tracing::error!("{what}");
        summary
            .missing
            .push(format!("{} (jig {})", p.bench, p.serial));
        events
            .send(LineEvent::JigMissing {
                bench: *pos,
                name: p.bench.clone(),
                serial: p.serial.clone(),
            })
            .await;
        events
            .send(LineEvent::Alarm(Alarm {
                key: format!("jig {} missing", p.serial),
                bench: Some(*pos),
                what,
                fix: "plug the jig in (check its USB cable, hub and power) and restart the line; the other benches test meanwhile".into(),
            }))
            .await;
    }
    out
}

/// A jig that answered but is not taken into the line.
async fn refuse(
    bench: usize,
    name: &str,
    port: &str,
    e: &LinkError,
    events: &Events,
    summary: &mut Summary,
) {
    // The other jigs go on; the operator hears about the bad ones now.
    tracing::error!("{e}");
    events
        .send(LineEvent::JigRefused {
            bench,
            port: port.to_string(),
            reason: e.to_string(),
        })
        .await;
    events
        .send(LineEvent::Alarm(Alarm {
            key: format!("jig {port}"),
            bench: Some(bench),
            what: format!("{name} was not taken into the line: {e}"),
            fix: "fix or replace the jig, then restart the line".into(),
        }))
        .await;
    summary.failed_jigs.push(e.to_string());
}
