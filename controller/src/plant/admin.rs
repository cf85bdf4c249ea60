//! What the plant's database owner runs: the migrations, and the mapping of a login role to the
//! station it writes.

use std::future::Future;

use super::schema::{BOOTSTRAP, MIGRATIONS, SCHEMA_VERSION};
use super::{Plant, PlantError, REQUEST_TIMEOUT};

/// What a migration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version before.
    pub from: i32,
    /// The schema version now ([`SCHEMA_VERSION`]).
    pub to: i32,
}

/// What `add_station` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// The station was new to the plant.
    pub new_station: bool,
    /// The role was not mapped to it before.
    pub new_mapping: bool,
}

/// Brings the database to [`SCHEMA_VERSION`], in one transaction (run as the database owner;
/// a database already there is left as it is).
pub async fn migrate(url: &str) -> Result<Migrated, PlantError> {
    let mut plant = Plant::open(url).await?;
    let what = "migrating the plant database";
    let fail = |e: tokio_postgres::Error| PlantError::from_query(what, &e);
    let tx = deadline(what, plant.client.transaction())
        .await?
        .map_err(fail)?;
    // One migration at a time, whoever else runs it.
    deadline(
        what,
        tx.batch_execute("SELECT pg_advisory_xact_lock(7410531246)"),
    )
    .await?
    .map_err(fail)?;
    deadline(what, tx.batch_execute(BOOTSTRAP))
        .await?
        .map_err(fail)?;
    let row = deadline(
        what,
        tx.query_one(
            "SELECT coalesce(max(version), 0) FROM benchline.migrations",
            &[],
        ),
    )
    .await?
    .map_err(fail)?;
    let from: i32 = row.get(0);
    if from > SCHEMA_VERSION {
        return Err(PlantError::SchemaVersion {
            found: from,
            needed: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
        let step = format!("applying migration {version}");
        deadline(&step, tx.batch_execute(sql))
            .await?
            .map_err(|e| PlantError::from_query(&step, &e))?;
        deadline(
            &step,
            tx.execute(
                "INSERT INTO benchline.migrations (version) VALUES ($1)",
                &[version],
            ),
        )
        .await?
        .map_err(|e| PlantError::from_query(&step, &e))?;
    }
    deadline(what, tx.commit()).await?.map_err(fail)?;
    Ok(Migrated {
        from,
        to: SCHEMA_VERSION,
    })
}

/// Lets login role `role` write the records of station `station` (and no other): makes the
/// station known to the plant, makes the role a member of `benchline_station` and maps it.
/// The role must exist (the DBA creates it with its password); a role already mapped to
/// another station is refused.
pub async fn add_station(url: &str, station: &str, role: &str) -> Result<Added, PlantError> {
    let mut plant = Plant::connect(url).await?;
    let what = format!("adding station {station} for role {role}");
    let fail = |e: tokio_postgres::Error| PlantError::from_query(&what, &e);
    if station.trim().is_empty() || station.len() > 200 {
        return Err(PlantError::Db {
            what: what.clone(),
            why: "a station id is 1 to 200 characters".to_string(),
        });
    }
    let tx = deadline(&what, plant.client.transaction())
        .await?
        .map_err(fail)?;
    let exists = deadline(
        &what,
        tx.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]),
    )
    .await?
    .map_err(fail)?;
    if exists.is_none() {
        return Err(PlantError::Db {
            what,
            why: format!(
                "there is no role {role}; create it first: CREATE ROLE \"{role}\" LOGIN PASSWORD '...'"
            ),
        });
    }
    let held = deadline(
        &what,
        tx.query_opt(
            "SELECT station FROM benchline.station_roles WHERE role = $1",
            &[&role],
        ),
    )
    .await?
    .map_err(fail)?;
    if let Some(row) = held {
        let other: String = row.get(0);
        if other != station {
            return Err(PlantError::Db {
                what,
                why: format!(
                    "role {role} already writes station {other}; a login role writes one station: create another role for {station}"
                ),
            });
        }
    }
    let new_station = deadline(
        &what,
        tx.execute(
            "INSERT INTO benchline.stations (id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&station],
        ),
    )
    .await?
    .map_err(fail)?
        == 1;
    let new_mapping = deadline(
        &what,
        tx.execute(
            "INSERT INTO benchline.station_roles (role, station) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&role, &station],
        ),
    )
    .await?
    .map_err(fail)?
        == 1;
    let grant = deadline(
        &what,
        tx.query_one(
            "SELECT format('GRANT benchline_station TO %I', $1::text)",
            &[&role],
        ),
    )
    .await?
    .map_err(fail)?;
    let grant: String = grant.get(0);
    deadline(&what, tx.batch_execute(&grant))
        .await?
        .map_err(fail)?;
    deadline(&what, tx.commit()).await?.map_err(fail)?;
    Ok(Added {
        new_station,
        new_mapping,
    })
}

/// Runs a request with [`REQUEST_TIMEOUT`].
async fn deadline<T>(what: &str, request: impl Future<Output = T>) -> Result<T, PlantError> {
    tokio::time::timeout(REQUEST_TIMEOUT, request)
        .await
        .map_err(|_| PlantError::Timeout {
            what: what.to_string(),
            secs: REQUEST_TIMEOUT.as_secs(),
        })
}
