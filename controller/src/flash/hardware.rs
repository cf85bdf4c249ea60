//! The real probes: the probe-rs library (probes on USB through nusb, no libusb or hidapi) and
//! its built-in target registry (chip names, their flash).

use std::path::Path;

use probe_rs::config::{MemoryRegion, Registry, TargetSelector};
use probe_rs::flashing::{download_file_with_options, DownloadOptions, ElfLoader, ElfOptions};
use probe_rs::probe::list::Lister;
use probe_rs::probe::DebugProbeInfo;
use probe_rs::{Permissions, Session};

use super::probe::{Attached, ChipInfo, ProbeInfo, Probes};
use super::FlashError;

/// Where Linux lists USB devices (what probe-rs reads through nusb).
const USB_DEVICES: &str = "/sys/bus/usb/devices";

/// The probes probe-rs finds on this machine.
#[derive(Debug, Default)]
pub struct ProbeRs {
    /// What the last [`Probes::list`] found, to open the one chosen.
    found: Vec<DebugProbeInfo>,
}

impl ProbeRs {
    /// The probe-rs probes.
    pub fn new() -> ProbeRs {
        ProbeRs::default()
    }
}

fn info(p: &DebugProbeInfo) -> ProbeInfo {
    ProbeInfo {
        name: p.identifier.clone(),
        vid: p.vendor_id,
        pid: p.product_id,
        serial: p.serial_number.clone(),
    }
}

impl Probes for ProbeRs {
    type Attached = ProbeRsSession;

    fn chip(&self, chip: &str) -> Result<ChipInfo, String> {
        let registry = Registry::from_builtin_families();
        // The registry warns (through tracing) when a name matches by prefix only; the answer
        // is what counts here.
        let found =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                registry.get_target_by_name(chip)
            });
        if let Ok(target) = found {
            let flash = target
                .memory_map
                .iter()
                .filter_map(|r| match r {
                    MemoryRegion::Nvm(nvm) => Some(nvm.range.clone()),
                    _ => None,
                })
                .collect();
            // The target is named after the package matched (`STM32F411RETx`); the chip it is
            // a package of (`STM32F411RE`) names the target whatever package was asked for.
            let name = registry
                .families()
                .iter()
                .flat_map(|f| f.variants.iter())
                .find(|c| {
                    c.package_variants()
                        .any(|p| p.eq_ignore_ascii_case(&target.name))
                })
                .map_or(target.name, |c| c.name.clone());
            return Ok(ChipInfo { name, flash });
        }
        let mut alike = registry.search_chips(chip);
        alike.truncate(8);
        Err(if alike.is_empty() {
            "probe-rs knows no chip of that name".into()
        } else {
            format!("probe-rs knows {}", alike.join(", "))
        })
    }

    fn list(&mut self) -> Vec<ProbeInfo> {
        // Each probe driver logs a warning when it cannot list USB at all; that is said once,
        // in the error (`why_none`), not once per driver.
        let lister = Lister::new();
        self.found =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                lister.list_all()
            });
        self.found.iter().map(info).collect()
    }

    fn why_none(&self) -> Option<String> {
        let sys = Path::new(USB_DEVICES);
        (!sys.exists()).then(|| {
            format!("this machine shows no USB at all ({USB_DEVICES} is missing: a container or VM without USB passed through)")
        })
    }

    fn attach(&mut self, probe: &ProbeInfo, chip: &str) -> Result<ProbeRsSession, FlashError> {
        let Some(found) = self.found.iter().find(|p| info(p) == *probe) else {
            return Err(FlashError::ProbeGone {
                probe: probe.to_string(),
                detail: "it is no longer listed".into(),
            });
        };
        let open = || {
            found.open().map_err(|e| FlashError::ProbeGone {
                probe: probe.to_string(),
                detail: e.to_string(),
            })
        };
        // First let the probe say which chip is on its wires; a chip it cannot identify is
        // attached by the board's name.
        if let Ok(session) = open()?.attach(TargetSelector::Auto, Permissions::default()) {
            let detected = session.target().name.clone();
            return Ok(ProbeRsSession {
                session,
                detected: Some(detected),
            });
        }
        let session =
            open()?
                .attach(chip, Permissions::default())
                .map_err(|e| FlashError::Attach {
                    probe: probe.to_string(),
                    chip: chip.to_string(),
                    detail: e.to_string(),
                })?;
        Ok(ProbeRsSession {
            session,
            detected: None,
        })
    }
}

/// A probe-rs session on the board's chip.
pub struct ProbeRsSession {
    session: Session,
    detected: Option<String>,
}

impl std::fmt::Debug for ProbeRsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRsSession")
            .field("detected", &self.detected)
            .finish_non_exhaustive()
    }
}

impl Attached for ProbeRsSession {
    fn detected(&self) -> Option<&str> {
        self.detected.as_deref()
    }

    fn download(&mut self, elf: &Path) -> Result<(), FlashError> {
        let mut options = DownloadOptions::default();
        options.verify = true;
        download_file_with_options(
            &mut self.session,
            elf,
            ElfLoader(ElfOptions::default()),
            options,
        )
        .map_err(|e| FlashError::Download {
            chip: self.session.target().name.clone(),
            detail: e.to_string(),
        })
    }

    fn reset(&mut self) -> Result<(), FlashError> {
        let chip = self.session.target().name.clone();
        let fail = |e: probe_rs::Error| FlashError::Reset {
            chip: chip.clone(),
            detail: e.to_string(),
        };
        self.session.core(0).map_err(fail)?.reset().map_err(fail)
    }
}
