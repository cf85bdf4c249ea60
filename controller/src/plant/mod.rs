//! The plant: every station's records in one PostgreSQL database, verified as they arrive.
//!
//! - [`Plant`]: one connection (tokio-postgres; TLS through rustls when the URL asks for it,
//!   [`url`], [`tls`]), opened only when the database's schema is [`SCHEMA_VERSION`].
//! - [`schema`]: the migrations, as SQL: tables, the trigger that checks each record's hash and
//!   link and flags forks, append-only triggers, roles, row-level security, the lag view.
//! - [`push`]: a batch of a station's records in one transaction; heartbeat, state, lag.
//! - [`admin`]: what the database owner runs: `migrate`, `add_station`.
//!
//! The database decides what is true: a station cannot skip the checks, and nobody (the owner
//! included) can update, delete or truncate a record.

pub mod admin;
pub mod error;
pub mod push;
pub mod replicate;
pub mod schema;
pub mod tls;
pub mod url;

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio_postgres::{Client, NoTls};

use crate::store::Hash;
pub use error::PlantError;
pub use schema::SCHEMA_VERSION;
use url::{PlantUrl, TlsMode};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request (a batch, a query) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to the plant database.
pub struct Plant {
    client: Client,
    shown: String,
}

/// One record on its way to the plant, as the station's store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Sequence number in the station's chain (from 1).
    pub seq: u64,
    /// Hash of the record before it (zeros for record 1).
    pub prev: Hash,
    /// The record's hash ([`crate::store::entry::chain_hash`] of prev, seq, body).
    pub hash: Hash,
    /// The record's JSON exactly as stored.
    pub body: Vec<u8>,
}

/// The plant's head for a station after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The last sequence number the plant holds (0: none).
    pub head_seq: u64,
    /// Its hash (zeros when none).
    pub head_hash: Hash,
}

/// What the plant knows of one station.
#[derive(Debug, Clone, PartialEq)]
pub struct StationState {
    /// The station id.
    pub station: String,
    /// False when the plant has never heard of the station (then everything else is empty).
    pub known: bool,
    /// The plant's head for it.
    pub head: Pushed,
    /// When the plant last stored one of its records.
    pub pushed_at: Option<SystemTime>,
    /// What the station said it holds at its last heartbeat.
    pub local_head: Option<(u64, Hash)>,
    /// When that heartbeat came.
    pub local_seen_at: Option<SystemTime>,
    /// Set when the plant refuses the station.
    pub refusal: Option<String>,
    /// The fork that refused it, if that is why.
    pub fork: Option<Fork>,
}

/// A station's record that contradicted what the plant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    /// The plant's head for the station when the fork was found.
    pub plant_head: (u64, Hash),
    /// The station's record that contradicted it.
    pub station_record: (u64, Hash),
}

/// How far behind the plant is for one station (the view `benchline.lag`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lag {
    /// The station id.
    pub station: String,
    /// Records the station holds that the plant does not (its last heartbeat's head minus the
    /// plant's head; negative when the station holds fewer than the plant).
    pub backlog: i64,
    /// Seconds since the plant last received from the station, while it has a backlog (0
    /// when none): the number to alert on.
    pub lag_seconds: f64,
    /// The plant refuses the station.
    pub refused: bool,
}

impl Plant {
    /// Connects and checks that the database's schema is [`SCHEMA_VERSION`].
    pub async fn connect(url: &str) -> Result<Plant, PlantError> {
        let plant = Plant::open(url).await?;
        let found = plant.schema_version().await?;
        if found != SCHEMA_VERSION {
            return Err(PlantError::SchemaVersion {
                found,
                needed: SCHEMA_VERSION,
            });
        }
        Ok(plant)
    }

    /// Connects without checking the schema (for migrations).
    pub async fn open(url: &str) -> Result<Plant, PlantError> {
        let parsed = PlantUrl::parse(url)?;
        let shown = parsed.shown.clone();
        let attempt = async {
            if parsed.tls == TlsMode::Off {
                let (client, connection) = parsed.config.connect(NoTls).await?;
                tokio::spawn(drive(connection, shown.clone()));
                Ok(client)
            } else {
                let tls =
                    tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(&parsed)?);
                let (client, connection) = parsed.config.connect(tls).await?;
                tokio::spawn(drive(connection, shown.clone()));
                Ok(client)
            }
        };
        let client = match tokio::time::timeout(CONNECT_TIMEOUT * 2, attempt).await {
            Err(_) => {
                return Err(PlantError::Unreachable {
                    url: shown,
                    why: format!("no answer within {} s", (CONNECT_TIMEOUT * 2).as_secs()),
                })
            }
            Ok(Err(Attempt::Plant(e))) => return Err(e),
            Ok(Err(Attempt::Pg(e))) => return Err(connect_error(&parsed, &e)),
            Ok(Ok(client)) => client,
        };
        Ok(Plant { client, shown })
    }

    /// The schema version the database holds (0: never migrated).
    pub async fn schema_version(&self) -> Result<i32, PlantError> {
        let what = "reading the schema version";
        let row = self
            .within(
                what,
                self.client.query_opt(
                    "SELECT coalesce(max(version), 0) FROM benchline.migrations",
                    &[],
                ),
            )
            .await;
        match row {
            Ok(row) => Ok(row.map_or(0, |r| r.get::<_, i32>(0))),
            Err(e) => match e.as_db_error().map(|d| d.code().code()) {
                Some("42P01" | "3F000") => Ok(0),
                Some("42501") => Err(PlantError::MissingGrant {
                    what: format!(
                        "reading benchline.migrations: {}",
                        e.as_db_error().map_or("", |d| d.message())
                    ),
                }),
                _ => Err(PlantError::from_timed(what, &e)),
            },
        }
    }

    /// The plant's identity: the database system identifier and the database's name
    /// (`SYSID/NAME`), so a station can tell one plant from another.
    pub async fn identity(&self) -> Result<String, PlantError> {
        let what = "reading the plant's identity";
        let row = self
            .within(
                what,
                self.client
                    .query_one("SELECT benchline.plant_identity()", &[]),
            )
            .await
            .map_err(|e| PlantError::from_timed(what, &e))?;
        Ok(row.get(0))
    }

    /// The client, for reads.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The URL this connection came from, its password hidden.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// Runs a request with [`REQUEST_TIMEOUT`]; a request past it reads as a closed
    /// connection's error would, so callers classify one kind of failure.
    pub(crate) async fn within<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Timed> {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(r) => r.map_err(Timed::Pg),
            Err(_) => Err(Timed::Late(what.to_string())),
        }
    }
}

/// A request's failure: the server's error, or no answer in time.
#[derive(Debug)]
pub(crate) enum Timed {
    Pg(tokio_postgres::Error),
    Late(String),
}

impl Timed {
    fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        match self {
            Timed::Pg(e) => e.as_db_error(),
            Timed::Late(_) => None,
        }
    }
}

impl PlantError {
    /// Classifies a request's failure.
    pub(crate) fn from_timed(what: &str, e: &Timed) -> PlantError {
        match e {
            Timed::Pg(e) => PlantError::from_query(what, e),
            Timed::Late(w) => PlantError::Timeout {
                what: w.clone(),
                secs: REQUEST_TIMEOUT.as_secs(),
            },
        }
    }
}

enum Attempt {
    Plant(PlantError),
    Pg(tokio_postgres::Error),
}

impl From<PlantError> for Attempt {
    fn from(e: PlantError) -> Attempt {
        Attempt::Plant(e)
    }
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Attempt {
        Attempt::Pg(e)
    }
}

/// Runs the connection until the client is dropped or the server goes.
async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>, shown: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(
            "plant connection to {shown} ended: {}",
            error::error_chain(&e)
        );
    }
}

/// Classifies a failed connection attempt.
fn connect_error(url: &PlantUrl, e: &tokio_postgres::Error) -> PlantError {
    let shown = url.shown.clone();
    if let Some(db) = e.as_db_error() {
        let why = db.message().to_string();
        return match db.code().code() {
            "28P01" | "28000" => {
                // A server that takes only TLS refuses a plain login with "no encryption".
                let why = if url.tls == url::TlsMode::Off && why.contains("no encryption") {
                    format!("{why}; the server accepts only TLS here: add sslmode=verify-full&sslrootcert=CA_FILE to the URL")
                } else {
                    why
                };
                PlantError::Authentication { url: shown, why }
            }
            "3D000" => PlantError::NoDatabase {
                url: shown,
                database: url.config.get_dbname().unwrap_or("(default)").to_string(),
            },
            "42501" => PlantError::MissingGrant { what: why },
            _ => PlantError::Unreachable { url: shown, why },
        };
    }
    let why = error::error_chain(e);
    let lower = why.to_lowercase();
    if lower.contains("password") {
        PlantError::Authentication { url: shown, why }
    } else if lower.contains("tls") || lower.contains("certificate") {
        PlantError::Tls { url: shown, why }
    } else {
        PlantError::Unreachable { url: shown, why }
    }
}

#[cfg(test)]
mod tests;
