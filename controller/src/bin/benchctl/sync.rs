//! `sync`: pushes a store's outbox to the plant database and exits; `--status`: the plant's
//! lag for every station.

use std::time::Duration;

use anyhow::Context;

use benchctl::plant::{replicate, Plant};
use benchctl::store::{self, Store};

use crate::{bad_input, DataArg, Failure};

#[derive(clap::Args)]
pub(crate) struct SyncArgs {
    /// The plant's PostgreSQL database, e.g. postgresql://line3@plant-db/plant?sslmode=verify-full
    /// (or postgresql:///plant?host=/run/postgresql&user=line3 on a Unix socket).
    #[arg(long, value_name = "URL")]
    plant: String,
    /// Push nothing: print how far behind the plant is for each station (records the station
    /// holds that the plant does not, and seconds since the plant last received from a
    /// station that has a backlog: the number to alert on). With --data, the store's head is
    /// told to the plant first (the heartbeat a running line sends).
    #[arg(long)]
    status: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArg,
}

/// How long `sync` may take in all (a large first push included).
const SYNC_WITHIN: Duration = Duration::from_secs(3600);

pub(crate) fn cmd_sync(a: SyncArgs) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if a.status {
        return rt.block_on(status(&a));
    }
    let dir = a.data.dir();
    if !dir.is_dir() {
        return Err(bad_input(anyhow::anyhow!(
            "data directory {} does not exist; give --data the directory of the station's records",
            dir.display()
        )));
    }
    let store = Store::open(&dir, store::Use::Read)?;
    let station = station_of(&store)?;
    let pushing = replicate::sync(
        &a.plant,
        &station,
        store.shared_reader(),
        store::outbox::BATCH,
    );
    let synced = rt
        .block_on(async { tokio::time::timeout(SYNC_WITHIN, pushing).await })
        .map_err(|_| {
            anyhow::anyhow!(
                "the push did not finish within {} s; what was confirmed is kept: run `benchctl sync` again",
                SYNC_WITHIN.as_secs()
            )
        })??;
    store.flush_meta()?;
    rt.shutdown_timeout(Duration::from_millis(200));
    if a.json {
        crate::print_out(&serde_json::to_string(&synced)?)?;
    } else {
        crate::print_out(&format!(
            "station {}: {} record(s) pushed; the plant holds {} of the {} record(s) in {}",
            synced.station,
            synced.pushed,
            synced.plant_head,
            synced.local_head,
            dir.display()
        ))?;
    }
    if synced.plant_head == synced.local_head {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "the plant holds {} record(s) of station {} and the store {}; run `benchctl sync` again",
            synced.plant_head,
            synced.station,
            synced.local_head
        )
        .into())
    }
}

/// The station a store belongs to: as the store records it, else as its last record says.
fn station_of(store: &Store) -> Result<String, Failure> {
    if let Some(s) = store.station()? {
        return Ok(s);
    }
    let named = match store.head() {
        Some(head) => store.get(head.seq)?.and_then(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.body)
                .ok()?
                .get("station")?
                .as_str()
                .map(str::to_string)
        }),
        None => None,
    };
    named.ok_or_else(|| {
        anyhow::anyhow!(
            "data directory {} does not say which station it belongs to (no run has written to it yet): nothing to push",
            store.dir().display()
        )
        .into()
    })
}

/// `--status`: every station's lag, as the plant sees it.
async fn status(a: &SyncArgs) -> Result<(), Failure> {
    let plant = Plant::connect(&a.plant).await?;
    if a.data.data.is_some() {
        let store = Store::open(&a.data.dir(), store::Use::Read)?;
        let station = station_of(&store)?;
        plant
            .heartbeat(&station, store.head().map(|h| (h.seq, h.hash)))
            .await?;
    }
    let lag = plant.lag().await?;
    if a.json {
        crate::print_out(&serde_json::to_string(&lag)?)?;
        return Ok(());
    }
    crate::print_out(&format!(
        "{:<32} {:>10} {:>12}  state",
        "station", "backlog", "lag (s)"
    ))?;
    for l in &lag {
        crate::print_out(&format!(
            "{:<32} {:>10} {:>12.0}  {}",
            l.station,
            l.backlog,
            l.lag_seconds,
            if l.refused { "REFUSED" } else { "ok" }
        ))?;
    }
    Ok(())
}
