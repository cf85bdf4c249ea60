//! Bins: where the operator puts a graded phone, one label per disposition.
//!
//! A station's configuration names its bins; until station files exist every station uses the
//! documented default, the disposition's name in capitals (`RESALE`, `REPAIR`, `PARTS`,
//! `RECYCLE`, `RETEST`), so a label read from a step away says where the phone goes.

use std::collections::BTreeMap;

use super::Disposition;

/// The bin label of each disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bins(BTreeMap<Disposition, String>);

impl Default for Bins {
    fn default() -> Self {
        Bins(
            Disposition::ALL
                .iter()
                .map(|d| (*d, d.as_str().to_ascii_uppercase()))
                .collect(),
        )
    }
}

impl Bins {
    /// The default labels with some replaced (a station's own bins).
    pub fn with(labels: impl IntoIterator<Item = (Disposition, String)>) -> Self {
        let mut bins = Bins::default();
        bins.0.extend(labels);
        bins
    }

    /// The label of the bin for `disposition`.
    pub fn label(&self, disposition: Disposition) -> &str {
        self.0.get(&disposition).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disposition_has_a_default_bin() {
        let bins = Bins::default();
        for d in Disposition::ALL {
            assert_eq!(bins.label(d), d.as_str().to_ascii_uppercase());
        }
        let station = Bins::with([(Disposition::Resale, "A1".to_string())]);
        assert_eq!(station.label(Disposition::Resale), "A1");
        assert_eq!(station.label(Disposition::Retest), "RETEST");
    }
}
