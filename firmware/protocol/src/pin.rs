//! The names of the port's pins and of the phone's connector, spelled once for plans, records,
//! the phone library and logs. Neither name crosses the wire: the wire carries [`PortPin`]'s
//! variant index.

use serde::{Deserialize, Serialize};

use crate::message::{PortPin, CONTINUITY_PINS};

impl PortPin {
    /// The pin's name in measurement names (`dplus.resistance`), plans and phone files:
    /// `vbus`, `gnd`, `dplus`, `dminus`, `cc1`, `cc2`, `sbu1` or `sbu2`.
    pub const fn name(self) -> &'static str {
        match self {
            PortPin::Vbus => "vbus",
            PortPin::Gnd => "gnd",
            PortPin::DPlus => "dplus",
            PortPin::DMinus => "dminus",
            PortPin::Cc1 => "cc1",
            PortPin::Cc2 => "cc2",
            PortPin::Sbu1 => "sbu1",
            PortPin::Sbu2 => "sbu2",
        }
    }

    /// The pin called `name` (see [`PortPin::name`]).
    pub fn from_name(name: &str) -> Option<PortPin> {
        CONTINUITY_PINS.into_iter().find(|p| p.name() == name)
    }
}

/// The connector of a phone: which steps of a plan apply to it. Not part of the wire format.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Connector {
    /// USB Type-C receptacle.
    UsbC,
    /// Apple Lightning.
    Lightning,
}

impl Connector {
    /// Every connector.
    pub const ALL: [Connector; 2] = [Connector::UsbC, Connector::Lightning];

    /// The connector's name in plans and phone files: `usb-c` or `lightning`.
    pub const fn name(self) -> &'static str {
        match self {
            Connector::UsbC => "usb-c",
            Connector::Lightning => "lightning",
        }
    }

    /// The connector called `name`.
    pub fn from_name(name: &str) -> Option<Connector> {
        Connector::ALL.into_iter().find(|c| c.name() == name)
    }
}
