//! One slot: wait for a phone, test it, grade it, hand over the record, release it, wait for it
//! to leave.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use benchline_protocol::{Channel, Event, Reply, Request};
use tokio::sync::{broadcast, mpsc, watch};

use std::sync::atomic::{AtomicUsize, Ordering};

use super::answers::Answerer;
use super::record::{JigIdentity, PhoneIdentity, PhoneRecord, PlanIdentity, StepStatus};
use super::sequence::{self, Ctx};
use super::Outcome;
use crate::grade;
use crate::link::LinkEvent;
use crate::store::{Pending, StoreError, Writer};

/// How often a slot re-checks the jig when no event arrives (lost events, reconnects).
const RECHECK: Duration = Duration::from_secs(1);

/// Where a slot's records go.
#[derive(Clone)]
pub struct Output {
    /// To the run, which shows them.
    pub records: mpsc::Sender<Outcome>,
    /// Where they are committed first, if anywhere.
    pub store: Option<Writer>,
    /// Records still wanted (`--count`), shared by every slot, so exactly that many are stored.
    pub budget: Arc<AtomicUsize>,
}

impl Output {
    /// Commits the record, then hands it to the run; false when the slot must stop (the run
    /// has enough records, has ended, or the store failed).
    async fn deliver(&self, record: PhoneRecord) -> bool {
        if self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return false;
        }
        let stored = match &self.store {
            None => None,
            Some(w) => {
                let pending = serde_json::to_vec(&record)
                    .map_err(|e| StoreError::BadRecord(e.to_string()))
                    .and_then(Pending::new);
                let committed = match pending {
                    Ok(p) => w.commit(p).await,
                    Err(e) => Err(e),
                };
                match committed {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let _ = self.records.send(Outcome::StoreFailed(e)).await;
                        return false;
                    }
                }
            }
        };
        self.records
            .send(Outcome::Recorded(Box::new(record), stored))
            .await
            .is_ok()
    }
}

/// Runs the slot until `shutdown` turns true or the record receiver is gone.
pub async fn run_slot(
    ctx: Ctx,
    operator: String,
    answers: Arc<dyn Answerer>,
    out: Output,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut events = ctx.link.subscribe();
    loop {
        if !wait_for(&ctx, &mut events, &mut shutdown, true).await {
            return;
        }
        match test_phone(&ctx, &operator, answers.as_ref()).await {
            None => {
                tracing::info!(slot = ctx.slot, "phone removed before it was identified");
            }
            Some(_) if *shutdown.borrow() => return,
            Some(record) => {
                if !out.deliver(record).await {
                    // Not released: with the store failing, the phone stays put for a retest.
                    return;
                }
            }
        }
        // The removal comes after the release; anything older is stale.
        drain(&mut events);
        if let Err(e) = ctx
            .link
            .request(Request::Release { slot: ctx.slot }, ctx.margin)
            .await
        {
            if *shutdown.borrow() {
                return;
            }
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
        if present {
            // Waiting for a phone: events from before the status query are answered by the
            // query itself (an old insert event must not start a test of an empty slot).
            drain(events);
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
                    // The event itself is the answer: by the time a status query arrives,
                    // the next phone may already be in.
                    Ok(LinkEvent::Jig(Event::PhoneInserted { slot })) if slot == ctx.slot && present => return true,
                    Ok(LinkEvent::Jig(Event::PhoneRemoved { slot })) if slot == ctx.slot && !present => return true,
                    Ok(LinkEvent::Connected(_)) | Ok(LinkEvent::Reset(_)) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
            }
        }
    }
}

fn drain(events: &mut broadcast::Receiver<LinkEvent>) {
    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Tests the phone in the slot: identity first, then the three channels at once, then the
/// prompts; grades the result. `None` when the phone was taken out before it was identified
/// (nothing to record).
pub async fn test_phone(ctx: &Ctx, operator: &str, answerer: &dyn Answerer) -> Option<PhoneRecord> {
    let started = now();
    let identify = sequence::identify(ctx).await?;
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
        sequence::channel(ctx, Channel::Battery, &phone.model),
        sequence::channel(ctx, Channel::Port, &phone.model),
        sequence::channel(ctx, Channel::Screen, &phone.model)
    );
    steps.extend(b.into_iter().chain(p).chain(s));
    let mut answers = BTreeMap::new();
    let mut incomplete: Vec<String> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| {
            format!(
                "step {} could not be measured: {}",
                s.id,
                s.errors.last().map_or("", String::as_str)
            )
        })
        .collect();
    for prompt in &ctx.plan.prompts {
        match answerer.answer(&phone.imei, prompt) {
            Some(a) => {
                answers.insert(prompt.id.clone(), a);
            }
            None => incomplete.push(format!("prompt {} was not answered", prompt.id)),
        }
    }
    let input = grade::Input {
        model: phone.model.clone(),
        values: sequence::values(&steps),
        answers: answers.clone(),
        incomplete,
    };
    let (_, grade) = grade::grade(&ctx.plan, &input);
    let hello = ctx.link.hello();
    let complete = steps.iter().all(|s| s.status != StepStatus::Failed);
    Some(PhoneRecord {
        schema: crate::store::SCHEMA,
        phone,
        station: ctx.place.station.clone(),
        bench: ctx.place.bench.clone(),
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
        finished: now(),
        status: if complete { "complete" } else { "incomplete" },
        plan: PlanIdentity {
            id: ctx.plan.id.clone(),
            version: ctx.plan.version.clone(),
            hash: ctx.plan.hash.clone(),
        },
        steps,
        answers,
        grade,
        link: ctx.link.stats().snapshot(),
    })
}
