//! `benchctl flash ELF --board DIR`: jig firmware through a debug probe (probe-rs), then the
//! jig's `Hello` to confirm it restarted and runs the version just flashed;
//! `benchctl flash --list-probes`: the attached probes, to find the serial for `--probe`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use benchctl::discovery::hello::LinkGreeter;
use benchctl::discovery::sysfs::Sysfs;
use benchctl::flash::confirm::{PortFinder, Whereabouts};
use benchctl::flash::hardware::ProbeRs;
use benchctl::flash::probe::list_lines;
use benchctl::flash::{flash, Board, FlashError, Job, Wait};

use crate::{bad_input, print_out, say, Failure};

#[derive(clap::Args)]
pub(crate) struct FlashArgs {
    /// The firmware image (the ELF that cargo builds in the board's directory).
    #[arg(value_name = "ELF", required_unless_present = "list_probes")]
    elf: Option<PathBuf>,
    /// The board package the image was built from (firmware/boards/<name>): its chip, target
    /// and version.
    #[arg(long, value_name = "DIR", required_unless_present = "list_probes")]
    board: Option<PathBuf>,
    /// List the attached debug probes (identifier, VID:PID, serial number) and flash nothing.
    #[arg(long, conflicts_with_all = ["elf", "board", "probe", "port", "jig"])]
    list_probes: bool,
    /// The debug probe to use, by serial number (needed when several are attached; see
    /// --list-probes).
    #[arg(long, value_name = "SERIAL")]
    probe: Option<String>,
    /// The jig's serial port, to greet it before flashing and wait for its Hello after (default:
    /// the port of the USB device with the board's VID/PID).
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
    if a.list_probes {
        for line in list_lines(&mut ProbeRs::new()) {
            print_out(&line)?;
        }
        return Ok(());
    }
    let (Some(elf), Some(board_dir)) = (a.elf, a.board) else {
        return Err(bad_input(anyhow::anyhow!(
            "benchctl flash needs the ELF and --board DIR (or --list-probes)"
        )));
    };
    let board = Board::read(&board_dir).map_err(|e| failed(e.into()))?;
    let job = Job {
        elf,
        board,
        probe: a.probe,
    };
    let finder = PortFinder {
        whereabouts: Whereabouts {
            port: a.port,
            jig: a.jig,
            usb: job.board.usb,
        },
        ports: Sysfs::default(),
        greeter: LinkGreeter {
            within: Duration::from_secs(1),
        },
    };
    let wait = Wait {
        within: Duration::from_secs(a.wait),
        tick: Duration::from_millis(250),
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let done = rt
        .block_on(flash(&job, &mut ProbeRs::new(), &finder, wait, &mut |s| {
            say(s)
        }))
        .map_err(failed)?;
    let (probe, confirmed) = (done.probe, done.confirmed);
    let serial = confirmed.hello.serial.as_deref().unwrap_or("?");
    print_out(&format!(
        "flashed {} {} with probe {probe}; jig {serial} on {} restarted and runs firmware {} (protocol {})",
        job.board.name,
        job.board.version,
        confirmed.port.display(),
        confirmed.hello.firmware,
        confirmed.hello.protocol
    ))
}
