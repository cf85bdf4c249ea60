//! What can go wrong between a station and the plant database, each said with what to do.

use crate::store::{hex, Hash};

/// A failure talking to the plant database.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    /// The URL does not parse.
    #[error("the plant URL {url} is not usable: {why}; write it as postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full (or postgresql:///DATABASE?host=/socket/dir&user=USER)")]
    Url {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// No connection could be made (or it dropped).
    #[error("cannot reach the plant database at {url}: {why}; check that the server runs and listens there, the host name and port (or socket directory), and the network between")]
    Unreachable {
        /// The URL, its password hidden.
        url: String,
        /// What the connection attempt said.
        why: String,
    },
    /// The TLS handshake or the server's certificate failed.
    #[error("TLS with the plant database at {url} failed: {why}; check the server's certificate (its name must match the host for sslmode=verify-full) and the CA (sslrootcert=FILE, else the public web roots)")]
    Tls {
        /// The URL, its password hidden.
        url: String,
        /// What the handshake said.
        why: String,
    },
    /// The server refused the login.
    #[error("the plant database at {url} refused the login: {why}; check the user name and password in the URL, and that the database administrator created that login role (README: the plant database)")]
    Authentication {
        /// The URL, its password hidden.
        url: String,
        /// What the server said.
        why: String,
    },
    /// The database named in the URL does not exist.
    #[error("the plant database server at {url} has no database {database}; create it (createdb) and run `benchctl plant migrate --plant URL` as its owner")]
    NoDatabase {
        /// The URL, its password hidden.
        url: String,
        /// The database asked for.
        database: String,
    },
    /// The database's schema is not the one this benchctl knows.
    #[error("the plant database has schema {found}, this benchctl needs {needed}: {}", schema_advice(*found, *needed))]
    SchemaVersion {
        /// The version the database holds (0: never migrated).
        found: i32,
        /// [`super::SCHEMA_VERSION`].
        needed: i32,
    },
    /// The login role lacks a privilege (SQLSTATE 42501).
    #[error("the plant database refused: {what}; the login role lacks a grant: a station's role must be a member of benchline_station and mapped to its station (`benchctl plant add-station ID --role ROLE`), an auditor's a member of benchline_auditor, and migrations run as the database owner")]
    MissingGrant {
        /// What the server refused.
        what: String,
    },
    /// The station rewrote history the plant holds: it is refused from now on.
    #[error("station {station} forked: the plant holds record {} with hash {} as its head, the station sent record {} with hash {}, a different history; the plant refuses this station from now on: find out why its store was rewritten (benchctl verify), then give it a new station id or have the plant's database administrator clear the refusal", plant_head.0, hex(&plant_head.1), station_record.0, hex(&station_record.1))]
    Forked {
        /// The station id.
        station: String,
        /// The plant's head for that station: (seq, hash).
        plant_head: (u64, Hash),
        /// The station's record that contradicts it: (seq, hash).
        station_record: (u64, Hash),
    },
    /// The plant refuses the station (after a fork, or by its administrator).
    #[error("the plant refuses station {station}: {refusal}; nothing more is pushed until the plant's database administrator resolves it")]
    Refused {
        /// The station id.
        station: String,
        /// Why, as the plant recorded it.
        refusal: String,
    },
    /// The plant rejected a record (its hash does not match, a gap, not JSON).
    #[error("the plant rejected record {seq}: {why}; the batch was not stored; run `benchctl verify` on the station's store")]
    Rejected {
        /// The record's sequence number (0 when the server did not say).
        seq: u64,
        /// What the plant said.
        why: String,
    },
    /// The server did not answer in time.
    #[error("the plant database did not answer {what} within {secs} s; check the server's load and locks (pg_stat_activity) and the network")]
    Timeout {
        /// What was asked.
        what: String,
        /// The deadline.
        secs: u64,
    },
    /// Any other database error.
    #[error("the plant database failed {what}: {why}")]
    Db {
        /// What was asked.
        what: String,
        /// What the server or the client said.
        why: String,
    },
}

fn schema_advice(found: i32, needed: i32) -> &'static str {
    if found < needed {
        "run `benchctl plant migrate --plant URL` as the database owner"
    } else {
        "this benchctl is older than the database: use the benchctl release that migrated it, or a newer one"
    }
}

/// SQLSTATE of a record whose hash does not match its body (raised by the plant's trigger).
pub const SQLSTATE_BAD_HASH: &str = "BL001";
/// SQLSTATE of a record past the plant's head + 1 (a gap).
pub const SQLSTATE_GAP: &str = "BL002";
/// SQLSTATE of a record whose body is not UTF-8 JSON.
pub const SQLSTATE_NOT_JSON: &str = "BL003";
/// SQLSTATE of an attempt to change or remove stored rows.
pub const SQLSTATE_APPEND_ONLY: &str = "BL004";
/// SQLSTATE of a record whose body names another station than the one it is pushed as.
pub const SQLSTATE_OTHER_STATION: &str = "BL005";

impl PlantError {
    /// Classifies an error from a query (after the connection was made): `what` names the
    /// query for the message.
    pub fn from_query(what: &str, e: &tokio_postgres::Error) -> PlantError {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let mut why = db.message().to_string();
            if let Some(hint) = db.hint() {
                why.push_str(" (");
                why.push_str(hint);
                why.push(')');
            }
            return match code {
                "42501" => PlantError::MissingGrant { what: why },
                SQLSTATE_BAD_HASH | SQLSTATE_GAP | SQLSTATE_NOT_JSON | SQLSTATE_OTHER_STATION => {
                    PlantError::Rejected {
                        seq: db.detail().and_then(|d| d.trim().parse().ok()).unwrap_or(0),
                        why,
                    }
                }
                "57014" => PlantError::Timeout {
                    what: what.to_string(),
                    secs: 0,
                },
                _ => PlantError::Db {
                    what: what.to_string(),
                    why: format!("{why} (SQLSTATE {code})"),
                },
            };
        }
        if e.is_closed() {
            return PlantError::Unreachable {
                url: "the plant".to_string(),
                why: format!("the connection closed while {what}"),
            };
        }
        PlantError::Db {
            what: what.to_string(),
            why: error_chain(e),
        }
    }

    /// True when retrying later may help (the plant is down or slow), false when a person must
    /// act (credentials, grants, schema, a fork, a rejected record).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PlantError::Unreachable { .. } | PlantError::Timeout { .. } | PlantError::Db { .. }
        )
    }
}

/// The error and its sources, joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
