//! `export --plant`, `history --plant` and `verify --plant`: what auditors read from the plant's
//! database, with the same formats and printing as a station's own ([`audit`](crate::audit)).

use std::io::Write;
use std::path::Path;

use benchctl::export::plant::{self, history as plant_history, verify as plant_verify, ReadError};
use benchctl::export::{self, history, Filter, Format};
use benchctl::plant::Plant;
use benchctl::store::{self, Store, StoreError};

use crate::audit::Out;
use crate::Failure;

/// A runtime for the database client, and the client, connected and its schema checked.
fn connect(url: &str) -> Result<(tokio::runtime::Runtime, Plant), Failure> {
    // The plant readers drive the client from this thread and a reader thread of their own
    // (`Handle::block_on`): the connection task needs a worker of its own.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let plant = rt.block_on(Plant::connect(url))?;
    Ok((rt, plant))
}

/// `export --plant URL`.
pub(crate) fn export(
    url: &str,
    filter: &Filter,
    format: Format,
    out: Option<Out>,
) -> Result<(), Failure> {
    let (rt, plant) = connect(url)?;
    let run = |w: &mut dyn Write| -> Result<(), Failure> {
        let progress = std::sync::Arc::new(export::Progress::default());
        let bar = crate::progress::Bar::start(progress.clone(), "read");
        let summary = plant::export(rt.handle(), plant.client(), filter, format, w, &progress);
        drop(bar);
        // An output error stays an export error, so a closed pipe reads as one.
        let summary = summary.map_err(|e| match e {
            ReadError::Export(e) => Failure::from(e),
            e => Failure::from(e),
        })?;
        let heads: Vec<String> = summary
            .stations
            .iter()
            .map(|s| format!("{} {}", s.id, s.head_text()))
            .collect();
        crate::say(&format!(
            "benchctl: exported {} record(s) from the plant {}, station heads: {}; check a station's with `benchctl verify --head SEQ:HASH` there, the plant's with `benchctl verify --plant URL`",
            summary.records,
            plant.shown_url(),
            if heads.is_empty() {
                "none (the plant holds no station)".into()
            } else {
                heads.join(", ")
            }
        ));
        for s in summary.stations.iter().filter(|s| s.refusal.is_some()) {
            crate::say(&format!(
                "benchctl: the plant refuses station {}: its records are exported up to the plant's head only ({})",
                s.id,
                s.refusal.as_deref().unwrap_or_default()
            ));
        }
        Ok(())
    };
    match out {
        Some(out) => out.write(run),
        None => match run(&mut std::io::stdout().lock()) {
            Err(f) if crate::audit::is_broken_pipe(&f.error) => Ok(()),
            r => r,
        },
    }
}

/// `history IMEI --plant URL`.
pub(crate) fn history(url: &str, imei: &str, json: bool) -> Result<(), Failure> {
    let (rt, plant) = connect(url)?;
    let runs = plant_history::runs(rt.handle(), plant.client(), imei)?;
    if runs.is_empty() {
        return Err(anyhow::anyhow!(
            "no run of IMEI {imei} in the plant {} (among the stations this login may read); check the number",
            plant.shown_url()
        )
        .into());
    }
    let mut text = Vec::new();
    if json {
        for r in &runs {
            export::write_full_at(&mut text, r.seq, &r.entry, None, r.station.as_deref())?;
            text.push(b'\n');
        }
    } else {
        text.extend_from_slice(history::text(imei, &runs).as_bytes());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `verify --plant URL [--data DIR]`.
pub(crate) fn verify(url: &str, data: Option<&Path>) -> Result<(), Failure> {
    let (rt, plant) = connect(url)?;
    let store = match data {
        None => None,
        Some(dir) => {
            if !dir.join("records").exists() {
                return Err(anyhow::anyhow!(
                    "no record store in {}: give --data the directory `benchctl run` wrote to",
                    dir.display()
                )
                .into());
            }
            match Store::open(dir, store::Use::Read) {
                Ok(s) => Some(s),
                Err(busy @ StoreError::Busy { .. }) => {
                    return Err(anyhow::Error::new(busy)
                        .context("the station's store is in use; compare it with the plant once its `benchctl run` has stopped")
                        .into())
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let report = plant_verify::verify(rt.handle(), plant.client(), store.as_deref())?;
    crate::print_out(report.to_string().trim_end())?;
    if !report.ok() {
        return Err(anyhow::anyhow!(
            "the plant {} does not hold every station's records complete and unchanged, or a station no longer holds what the plant holds",
            plant.shown_url()
        )
        .into());
    }
    Ok(())
}
