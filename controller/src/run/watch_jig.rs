//! One task per bench: turns its jig's link events into line events (connected, lost, reset,
//! back in service, ended for good, phone removed, progress) and raises or clears the bench's
//! alarm.

use benchline_protocol::Event;
use tokio::sync::broadcast::error::RecvError;

use super::event::{Alarm, Events, LineEvent, SlotId};
use crate::link::{Link, LinkError, LinkEvent};

/// Tells the line what happens to the jig of bench `bench` (named `name`), until its link ends.
pub async fn watch(bench: usize, name: String, link: Link, events: Events) {
    let mut rx = link.subscribe();
    let port = link.port().to_string();
    let key = format!("jig {port}");
    if let Some(h) = link.hello() {
        events.send(connected(bench, &name, &port, &h)).await;
    }
    let alarm = |what: String, fix: &str| {
        LineEvent::Alarm(Alarm {
            key: key.clone(),
            bench: Some(bench),
            what,
            fix: fix.into(),
        })
    };
    // The jig cannot be used for now: its bench shows a fault and an alarm says what to do.
    let lose = |why: String, what: String, fix: &'static str| {
        [
            LineEvent::JigLost {
                bench,
                port: port.clone(),
                why,
            },
            alarm(what, fix),
        ]
    };
    let mut lost = false;
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => {
                let why = "the link to its jig has ended".to_string();
                let what = format!("{name} ({port}): {why}");
                for e in lose(
                    why,
                    what,
                    "check the jig and its firmware, then restart the line",
                ) {
                    events.send(e).await;
                }
                return;
            }
        };
        match ev {
            LinkEvent::Connected(h) => {
                events.send(connected(bench, &name, &port, &h)).await;
                back(&mut lost, bench, &key, &events).await;
            }
            LinkEvent::Reset(_) => {
                events
                    .send(LineEvent::JigReset {
                        bench,
                        port: port.clone(),
                    })
                    .await;
                events
                    .send(alarm(
                        format!("{name} ({port}): the jig restarted; the steps it was running are repeated"),
                        "if it keeps restarting, check its power supply and replace the jig",
                    ))
                    .await;
            }
            LinkEvent::Disconnected(why) => {
                lost = true;
                let what = format!("{name} ({port}) disconnected: {why}");
                let fix = "check its USB cable and power; the line waits for it to come back";
                for e in lose(why, what, fix) {
                    events.send(e).await;
                }
            }
            LinkEvent::OutOfService(why) => {
                lost = true;
                let what = format!("{name} ({port}) is out of service: {why}");
                let fix = "check its USB cable, hub and power; its phones go to retest";
                for e in lose(why, what, fix) {
                    events.send(e).await;
                }
            }
            LinkEvent::BackInService => back(&mut lost, bench, &key, &events).await,
            LinkEvent::Ended(e) => {
                // The bench stops using the jig: its slots stop, the phones under test go to
                // retest, and nothing more is sent to whatever answers on the port.
                lost = true;
                let what = format!("{name}: {e}");
                tracing::error!("{what}");
                let fix = if matches!(e, LinkError::Changed { .. }) {
                    "do what the alarm says, then restart the line; until then the bench tests nothing and its phones under test go to retest"
                } else {
                    "check the jig and its firmware, then restart the line; until then the bench tests nothing"
                };
                for e in lose(e.to_string(), what, fix) {
                    events.send(e).await;
                }
            }
            LinkEvent::Jig(Event::PhoneRemoved { slot }) => {
                events
                    .send(LineEvent::PhoneRemoved {
                        at: SlotId { bench, slot },
                    })
                    .await;
            }
            LinkEvent::Jig(Event::Progress {
                slot,
                channel,
                percent,
                sample,
            }) => {
                events
                    .send(LineEvent::Progress {
                        at: SlotId { bench, slot },
                        channel: channel.as_str(),
                        percent,
                        sample,
                    })
                    .await;
            }
            LinkEvent::Jig(_) | LinkEvent::BadFrame(_) => {}
        }
    }
}

/// A lost jig answers again: its bench is back and its alarm cleared.
async fn back(lost: &mut bool, bench: usize, key: &str, events: &Events) {
    if std::mem::take(lost) {
        events.send(LineEvent::JigBack { bench }).await;
        events
            .send(LineEvent::AlarmCleared {
                key: key.to_string(),
            })
            .await;
    }
}

fn connected(bench: usize, name: &str, port: &str, h: &benchline_protocol::Hello) -> LineEvent {
    LineEvent::JigConnected {
        bench,
        name: name.to_string(),
        port: port.to_string(),
        serial: h.jig_serial.to_string(),
        firmware: h.firmware_version.to_string(),
        slots: h.slots,
    }
}
