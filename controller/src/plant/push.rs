//! A station's side of the plant: a batch of records in one transaction, the heartbeat that
//! says what the station holds, the plant's state of a station, the lag of every station.

use std::time::SystemTime;

use super::{Fork, Lag, Outgoing, Plant, PlantError, Pushed, StationState};
use crate::store::{Hash, GENESIS};

/// Inserts the batch (the trigger checks every row).
const INSERT: &str = "INSERT INTO benchline.records (station, seq, prev, hash, body)
    SELECT $1, b.seq, b.prev, b.hash, b.body
    FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[])
        WITH ORDINALITY AS b(seq, prev, hash, body, n)
    ORDER BY b.n";

const STATE: &str = "SELECT head_seq, head_hash, pushed_at, local_head_seq, local_head_hash,
    local_seen_at, refused_at, refusal, fork_seq, fork_station_hash, fork_plant_head_seq,
    fork_plant_head_hash FROM benchline.station_state($1)";

impl Plant {
    /// Pushes a batch of one station's records, in sequence order, as one transaction (one
    /// INSERT statement): it lands whole or not at all. Records the plant already holds (same seq, same hash) are
    /// skipped. Returns the plant's head for the station after it.
    ///
    /// A record that contradicts what the plant holds refuses the station: the records before
    /// it are kept and [`PlantError::Forked`] names both heads; a refused station's pushes
    /// fail with [`PlantError::Refused`].
    pub async fn push(&self, station: &str, batch: &[Outgoing]) -> Result<Pushed, PlantError> {
        let what = format!("pushing records of station {station}");
        let fail = |e: &super::Timed| PlantError::from_timed(&what, e);
        let before = self.state(station).await?;
        if let Some(refusal) = before.refusal {
            return Err(PlantError::Refused {
                station: station.to_string(),
                refusal,
            });
        }
        if batch.is_empty() {
            return Ok(before.head);
        }
        let mut seqs = Vec::with_capacity(batch.len());
        for o in batch {
            seqs.push(i64::try_from(o.seq).map_err(|_| PlantError::Rejected {
                seq: o.seq,
                why: "the sequence number does not fit a bigint".to_string(),
            })?);
        }
        let prevs: Vec<&[u8]> = batch.iter().map(|o| o.prev.as_slice()).collect();
        let hashes: Vec<&[u8]> = batch.iter().map(|o| o.hash.as_slice()).collect();
        let bodies: Vec<&[u8]> = batch.iter().map(|o| o.body.as_slice()).collect();
        // One statement is one transaction: the batch lands whole or not at all.
        let client = self.client();
        self.within(
            &what,
            client.execute(INSERT, &[&station, &seqs, &prevs, &hashes, &bodies]),
        )
        .await
        .map_err(|e| fail(&e))?;
        let row = self
            .within(&what, client.query_opt(STATE, &[&station]))
            .await
            .map_err(|e| fail(&e))?;
        let after = state_of(station, row.as_ref())?;
        if after.refusal.is_some() {
            if let Some(fork) = after.fork {
                return Err(PlantError::Forked {
                    station: station.to_string(),
                    plant_head: fork.plant_head,
                    station_record: fork.station_record,
                });
            }
            return Err(PlantError::Refused {
                station: station.to_string(),
                refusal: after.refusal.unwrap_or_default(),
            });
        }
        Ok(after.head)
    }

    /// Tells the plant what the station holds (its store's head; `None`: empty), for the lag.
    pub async fn heartbeat(
        &self,
        station: &str,
        local_head: Option<(u64, Hash)>,
    ) -> Result<(), PlantError> {
        let what = format!("sending the heartbeat of station {station}");
        let (seq, hash) = local_head.unwrap_or((0, GENESIS));
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.within(
            &what,
            self.client().execute(
                "SELECT benchline.heartbeat($1, $2, $3)",
                &[&station, &seq, &hash.as_slice()],
            ),
        )
        .await
        .map_err(|e| PlantError::from_timed(&what, &e))?;
        Ok(())
    }

    /// What the plant knows of a station.
    pub async fn state(&self, station: &str) -> Result<StationState, PlantError> {
        let what = format!("reading the state of station {station}");
        let row = self
            .within(&what, self.client().query_opt(STATE, &[&station]))
            .await
            .map_err(|e| PlantError::from_timed(&what, &e))?;
        state_of(station, row.as_ref())
    }

    /// Every station's lag (the view `benchline.lag`), by station id.
    pub async fn lag(&self) -> Result<Vec<Lag>, PlantError> {
        let what = "reading the lag";
        let rows = self
            .within(
                what,
                self.client().query(
                    "SELECT station, backlog, lag_seconds, refused FROM benchline.lag ORDER BY station",
                    &[],
                ),
            )
            .await
            .map_err(|e| PlantError::from_timed(what, &e))?;
        rows.iter()
            .map(|r| {
                Ok(Lag {
                    station: r.try_get(0).map_err(|e| bad_row(what, &e))?,
                    backlog: r.try_get(1).map_err(|e| bad_row(what, &e))?,
                    lag_seconds: r.try_get(2).map_err(|e| bad_row(what, &e))?,
                    refused: r.try_get(3).map_err(|e| bad_row(what, &e))?,
                })
            })
            .collect()
    }
}

fn bad_row(what: &str, e: &tokio_postgres::Error) -> PlantError {
    PlantError::Db {
        what: what.to_string(),
        why: format!(
            "unexpected row: {}; is the schema the one this benchctl migrated?",
            super::error::error_chain(e)
        ),
    }
}

fn hash_of(what: &str, bytes: &[u8]) -> Result<Hash, PlantError> {
    bytes.try_into().map_err(|_| PlantError::Db {
        what: what.to_string(),
        why: format!("a stored hash is {} bytes, not 32", bytes.len()),
    })
}

fn seq_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A `station_state` row (none: the plant never heard of the station).
fn state_of(station: &str, row: Option<&tokio_postgres::Row>) -> Result<StationState, PlantError> {
    let what = "reading a station's state";
    let Some(r) = row else {
        return Ok(StationState {
            station: station.to_string(),
            known: false,
            head: Pushed {
                head_seq: 0,
                head_hash: GENESIS,
            },
            pushed_at: None,
            local_head: None,
            local_seen_at: None,
            refusal: None,
            fork: None,
        });
    };
    let get = |e: tokio_postgres::Error| bad_row(what, &e);
    let head_seq: i64 = r.try_get(0).map_err(get)?;
    let head_hash: Vec<u8> = r.try_get(1).map_err(get)?;
    let pushed_at: Option<SystemTime> = r.try_get(2).map_err(get)?;
    let local_seq: Option<i64> = r.try_get(3).map_err(get)?;
    let local_hash: Option<Vec<u8>> = r.try_get(4).map_err(get)?;
    let local_seen_at: Option<SystemTime> = r.try_get(5).map_err(get)?;
    let refused_at: Option<SystemTime> = r.try_get(6).map_err(get)?;
    let refusal: Option<String> = r.try_get(7).map_err(get)?;
    let fork_seq: Option<i64> = r.try_get(8).map_err(get)?;
    let fork_hash: Option<Vec<u8>> = r.try_get(9).map_err(get)?;
    let fork_head_seq: Option<i64> = r.try_get(10).map_err(get)?;
    let fork_head_hash: Option<Vec<u8>> = r.try_get(11).map_err(get)?;
    let local_head = match (local_seq, local_hash) {
        (Some(s), Some(h)) => Some((seq_of(s), hash_of(what, &h)?)),
        _ => None,
    };
    let fork = match (fork_seq, fork_hash, fork_head_seq, fork_head_hash) {
        (Some(s), Some(h), Some(hs), Some(hh)) => Some(Fork {
            plant_head: (seq_of(hs), hash_of(what, &hh)?),
            station_record: (seq_of(s), hash_of(what, &h)?),
        }),
        _ => None,
    };
    let refusal = match (refused_at, refusal) {
        (Some(_), Some(why)) => Some(why),
        (Some(_), None) => Some("refused by the plant's database administrator".to_string()),
        _ => None,
    };
    Ok(StationState {
        station: station.to_string(),
        known: true,
        head: Pushed {
            head_seq: seq_of(head_seq),
            head_hash: hash_of(what, &head_hash)?,
        },
        pushed_at,
        local_head,
        local_seen_at,
        refusal,
        fork,
    })
}
