//! One slot: wait for a phone, test it, hand over the record, release it, wait for it to leave.

use std::time::Duration;

use benchline_protocol::{Event, Reply, Request};
use tokio::sync::{broadcast, mpsc, watch};

use super::record::{JigIdentity, PhoneIdentity, PhoneRecord, StepStatus};
use super::sequence::{self, Ctx};
use crate::link::LinkEvent;

/// How often a slot re-checks the jig when no event arrives (lost events, reconnects).
const RECHECK: Duration = Duration::from_secs(1);

/// Runs the slot until `shutdown` turns true or the record receiver is gone.
pub async fn run_slot(
    ctx: Ctx,
    operator: String,
    records: mpsc::Sender<PhoneRecord>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut events = ctx.link.subscribe();
    loop {
        if !wait_for(&ctx, &mut events, &mut shutdown, true).await {
            return;
        }
        let record = test_phone(&ctx, &operator).await;
        if *shutdown.borrow() || records.send(record).await.is_err() {
            return;
        }
        if let Err(e) = ctx
            .link
            .request(Request::Release { slot: ctx.slot }, ctx.margin)
            .await
        {
            tracing::warn!(slot = ctx.slot, "{e}");
        }
        if !wait_for(&ctx, &mut events, &mut shutdown, false).await {
            return;
        }
    }
}

/// Waits until the slot holds a phone (`present`) or is empty; false on shutdown.
async fn wait_for(
    ctx: &Ctx,
    events: &mut broadcast::Receiver<LinkEvent>,
    shutdown: &mut watch::Receiver<bool>,
    present: bool,
) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        if let Ok(Reply::Slot(s)) = ctx
            .link
            .request(Request::SlotStatus { slot: ctx.slot }, ctx.margin)
            .await
        {
            if s.phone_present == present {
                return true;
            }
        }
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = &mut recheck => break,
                ev = events.recv() => match ev {
                    Ok(LinkEvent::Jig(Event::PhoneInserted { slot })) if slot == ctx.slot && present => break,
                    Ok(LinkEvent::Jig(Event::PhoneRemoved { slot })) if slot == ctx.slot && !present => break,
                    Ok(LinkEvent::Connected(_)) | Ok(LinkEvent::Reset(_)) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
            }
        }
    }
}

/// Tests the phone in the slot: identity first, then the three channels at once.
pub async fn test_phone(ctx: &Ctx, operator: &str) -> PhoneRecord {
    let started = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let identify = sequence::identify(ctx).await;
    let text = |name: &str| {
        identify
            .measurements
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.value.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let phone = PhoneIdentity {
        imei: text("imei"),
        model: text("model"),
        serial: text("serial"),
    };
    let mut steps = vec![identify];
    let (b, p, s) = tokio::join!(
        sequence::battery(ctx),
        sequence::port(ctx),
        sequence::screen(ctx)
    );
    steps.extend(b.into_iter().chain(p).chain(s));
    let hello = ctx.link.hello();
    let complete = steps.iter().all(|s| s.status == StepStatus::Measured);
    PhoneRecord {
        phone,
        jig: JigIdentity {
            port: ctx.link.port().to_string(),
            serial: hello
                .as_ref()
                .map(|h| h.jig_serial.to_string())
                .unwrap_or_default(),
            firmware: hello
                .as_ref()
                .map(|h| h.firmware_version.to_string())
                .unwrap_or_default(),
            boot_id: hello.as_ref().map_or(0, |h| h.boot_id),
        },
        slot: ctx.slot,
        operator: operator.to_string(),
        started,
        finished: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        status: if complete { "complete" } else { "incomplete" },
        steps,
    }
}
