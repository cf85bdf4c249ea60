//! Jigs to benches by the serial number each announces, whatever port it is plugged into.

use super::Position;

/// Where each jig that answered goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// (position, index of the jig in `found`): jigs the station lists, each on its bench.
    pub placed: Vec<(usize, usize)>,
    /// Indexes in `found` of jigs whose serial the station does not list: not used.
    pub unknown: Vec<usize>,
    /// (index in `found`, position): a second jig announcing the serial of a jig already placed
    /// (two boards flashed with the same serial): not used.
    pub twice: Vec<(usize, usize)>,
    /// Positions whose jig did not answer on any port: their bench shows it missing.
    pub missing: Vec<usize>,
}

/// Places the jigs that answered (`found`: the serial each announced, in port order) on the
/// station's `positions`.
pub fn map(positions: &[Position], found: &[&str]) -> Mapping {
    let mut m = Mapping::default();
    let mut taken = vec![false; positions.len()];
    for (i, serial) in found.iter().enumerate() {
        match positions.iter().position(|p| p.serial == *serial) {
            None => m.unknown.push(i),
            Some(pos) if taken[pos] => m.twice.push((i, pos)),
            Some(pos) => {
                taken[pos] = true;
                m.placed.push((pos, i));
            }
        }
    }
    m.placed.sort_unstable();
    m.missing = (0..positions.len()).filter(|p| !taken[*p]).collect();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(bench: &str, serial: &str) -> Position {
        Position {
            bench: bench.into(),
            serial: serial.into(),
            slots: None,
        }
    }

    #[test]
    fn jigs_go_to_their_bench_by_serial_whatever_the_port_order() {
        let positions = [at("A", "J1"), at("A", "J2"), at("B", "J3")];
        // Plugged in the other way round: the bench follows the serial, not the port.
        let m = map(&positions, &["J3", "J1", "J2"]);
        assert_eq!(m.placed, vec![(0, 1), (1, 2), (2, 0)]);
        assert!(m.unknown.is_empty() && m.missing.is_empty() && m.twice.is_empty());
    }

    #[test]
    fn unknown_jigs_are_not_used_and_missing_ones_are_named() {
        let positions = [at("A", "J1"), at("B", "J2"), at("C", "J3")];
        let m = map(&positions, &["X9", "J2", "J2"]);
        assert_eq!(m.placed, vec![(1, 1)]);
        assert_eq!(m.unknown, vec![0]);
        assert_eq!(m.twice, vec![(2, 1)]);
        assert_eq!(m.missing, vec![0, 2]);
    }

    #[test]
    fn serials_are_compared_exactly() {
        let m = map(&[at("A", "J1")], &["j1"]);
        assert_eq!(m.unknown, vec![0]);
        assert_eq!(m.missing, vec![0]);
    }
}
