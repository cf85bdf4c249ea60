//! `benchctl flash ELF --board DIR`: jig firmware through a debug probe (probe-rs), then the
//! jig's `Hello` to confirm it runs the version just flashed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use benchctl::discovery::hello::LinkGreeter;
use benchctl::discovery::sysfs::Sysfs;
use benchctl::flash::confirm::{confirm, PortFinder, Whereabouts};
use benchctl::flash::hardware::ProbeRs;
use benchctl::flash::{program, Board, FlashError, Job};

use crate::{bad_input, print_out, say, Failure};

#[derive(clap::Args)]
pub(crate) struct FlashArgs {
    /// The firmware image (the ELF that cargo builds in the board's directory).
    #[arg(value_name = "ELF")]
    elf: PathBuf,
    /// The board package the image was built from (firmware/boards/<name>): its chip, target
    /// and version.
    #[arg(long, value_name = "DIR")]
    board: PathBuf,
    /// The debug probe to use, by serial number (needed when several are attached).
    #[arg(long, value_name = "SERIAL")]
    probe: Option<String>,
    /// The jig's serial port, to wait for its Hello (default: the port of the USB device with
    /// the board's VID/PID).
    #[arg(long, value_name = "PATH")]
    port: Option<PathBuf>,
    /// The jig's USB serial number, when several jigs of the board are attached.
    #[arg(long, value_name = "SERIAL")]
    jig: Option<String>,
    /// Seconds the jig gets to answer after the reset.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    wait: u64,
}

fn failed(e: FlashError) -> Failure {
    if e.is_usage() {
        bad_input(e)
    } else {
        e.into()
    }
}

pub(crate) fn cmd_flash(a: FlashArgs) -> Result<(), Failure> {
    let board = Board::read(&a.board).map_err(|e| failed(e.into()))?;
    let job = Job {
        elf: a.elf.clone(),
        board,
        probe: a.probe.clone(),
    };
    let probe = program(&job, &mut ProbeRs::new(), &mut |s| say(s)).map_err(failed)?;
    let finder = PortFinder {
        whereabouts: Whereabouts {
            port: a.port.clone(),
            jig: a.jig.clone(),
            usb: job.board.usb,
        },
        ports: Sysfs::default(),
        greeter: LinkGreeter {
            within: Duration::from_secs(1),
        },
        tick: Duration::from_millis(250),
    };
    say(&format!("waiting up to {} s for the jig to answer", a.wait));
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let confirmed = rt
        .block_on(confirm(
            &finder,
            &job.board.version,
            Duration::from_secs(a.wait),
        ))
        .map_err(failed)?;
    let serial = confirmed.hello.serial.as_deref().unwrap_or("?");
    print_out(&format!(
        "flashed {} {} with probe {probe}; jig {serial} on {} runs firmware {} (protocol {})",
        job.board.name,
        job.board.version,
        confirmed.port.display(),
        confirmed.hello.firmware,
        confirmed.hello.protocol
    ))
}
