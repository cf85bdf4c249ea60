//! One device's history across the plant: every run of an IMEI at every station, newest first
//! (by finish time), each with its station, printed as a station prints its own
//! ([`crate::export::history::text`]).

use tokio::runtime::Handle;
use tokio_postgres::Client;

use super::{begin, check_alone, end, neighbour, record, stations, stream, ReadError};
use crate::export::history::Run;

/// Every run of the device, with the plant's hash of the record before each, the `prev` of
/// the record after it and its station's head.
const RUNS: &str = "SELECT r.station, r.seq, r.prev, r.hash, r.body, b.hash, a.prev \
    FROM benchline.records r \
    LEFT JOIN benchline.records b ON b.station = r.station AND b.seq = r.seq - 1 \
    LEFT JOIN benchline.records a ON a.station = r.station AND a.seq = r.seq + 1 \
    WHERE r.imei = $1 \
    ORDER BY r.finished DESC NULLS LAST, r.station, r.seq DESC";

/// Every run of `imei` in the plant, newest first, each checked as a station checks a record
/// it reads on its own: its hash, its link to the plant's record before it and the link of the
/// record after it (or the station's head) to it. A record that does not hold stops the
/// history with an error naming its station and sequence number.
pub fn runs(rt: &Handle, client: &Client, imei: &str) -> Result<Vec<Run>, ReadError> {
    begin(rt, client)?;
    let result = runs_in(rt, client, imei);
    end(rt, client);
    result
}

fn runs_in(rt: &Handle, client: &Client, imei: &str) -> Result<Vec<Run>, ReadError> {
    let heads = stations(rt, client, &[])?;
    let mut out = Vec::new();
    let what = format!("the runs of device {imei}");
    stream(rt, client, &what, RUNS, &[&imei], |batch| {
        for row in batch {
            let station: String = row.try_get(0)?;
            let (seq, entry) = record(&station, &row, 1)?;
            let (before, after) = (neighbour(&row, 5)?, neighbour(&row, 6)?);
            let head = heads.iter().find(|s| s.id == station).and_then(|s| s.head);
            if let Err(what) = check_alone(seq, &entry, before, after, head) {
                return Err(ReadError::Broken {
                    station,
                    seq,
                    what,
                    stopped: "the history stopped at it",
                });
            }
            out.push(Run {
                station: Some(station),
                seq,
                entry,
            });
        }
        Ok(())
    })?;
    Ok(out)
}
