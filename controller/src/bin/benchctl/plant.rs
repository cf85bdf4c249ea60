//! `benchctl plant migrate --plant URL` and `benchctl plant add-station ID --role ROLE --plant
//! URL`: what the plant database's owner runs (README: the plant database).

use anyhow::Context;
use benchctl::plant::admin::{add_station, migrate};
use benchctl::plant::PlantError;

use crate::{bad_input, print_out, Failure};

/// What the plant's database owner runs.
#[derive(clap::Subcommand)]
pub(crate) enum PlantCommand {
    /// Create or upgrade the plant database's schema (as the database owner; running it again
    /// changes nothing).
    Migrate(MigrateArgs),
    /// Let a login role write one station's records (and no other's).
    AddStation(AddStationArgs),
}

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// The plant database: postgresql://OWNER@HOST/DATABASE?sslmode=verify-full.
    #[arg(long, value_name = "URL")]
    plant: String,
}

#[derive(clap::Args)]
pub(crate) struct AddStationArgs {
    /// The station id (as in its station file).
    #[arg(value_name = "ID")]
    station: String,
    /// The login role the station connects as (create it first: CREATE ROLE ... LOGIN PASSWORD).
    #[arg(long, value_name = "ROLE")]
    role: String,
    /// The plant database, as its owner: postgresql://OWNER@HOST/DATABASE.
    #[arg(long, value_name = "URL")]
    plant: String,
}

fn failed(e: PlantError) -> Failure {
    match e {
        PlantError::Url { .. } => bad_input(e),
        e => e.into(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?)
}

pub(crate) fn cmd_plant(command: PlantCommand) -> Result<(), Failure> {
    let rt = runtime()?;
    match command {
        PlantCommand::Migrate(a) => {
            let m = rt.block_on(migrate(&a.plant)).map_err(failed)?;
            if m.from == m.to {
                print_out(&format!(
                    "the plant database has schema {}: nothing to do",
                    m.to
                ))
            } else {
                print_out(&format!(
                    "the plant database migrated from schema {} to {}",
                    m.from, m.to
                ))
            }
        }
        PlantCommand::AddStation(a) => {
            let added = rt
                .block_on(add_station(&a.plant, &a.station, &a.role))
                .map_err(failed)?;
            let station = if added.new_station {
                "new station"
            } else {
                "station"
            };
            let mapping = if added.new_mapping {
                "may now write"
            } else {
                "already wrote"
            };
            print_out(&format!(
                "role {} {mapping} the records of {station} {} (and no other's)",
                a.role, a.station
            ))
        }
    }
}
