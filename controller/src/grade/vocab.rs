//! The grade vocabulary, defined once: CTIA cosmetic grades, R2v3 functional and cosmetic
//! categories (REC v1.2), marketplace grades and dispositions. Plan parsing, grading and the
//! export filters all read names through these enums, so a name is spelt and ordered in one
//! place.
//!
//! Directions differ by scale, so each type says which way is better:
//! - CTIA cosmetic: `A` (like new) is best, `E` (display damaged) worst; [`CtiaCosmetic`]'s
//!   order is best first.
//! - R2v3: a **higher** number is better (F6 like new ... F1 collectible/specialty; C9 new open
//!   box ... C1 damaged, C0 not categorized); an R2 controlled stream has no functioning
//!   category and ranks below F1. [`R2Functional`] and [`R2Cosmetic`] are ordered worst first, so
//!   `a > b` means `a` is better.
//! - Marketplace: Premium > Excellent > Good > Fair; [`Marketplace`] is ordered worst first
//!   (`a > b`: `a` is better).

use serde::Serialize;

/// Generates `ALL`, `as_str`, `from_name` (exact), `parse` (case-insensitive), `names`,
/// `Display` and a
/// string `Serialize` for a closed vocabulary.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, in the type's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in plans, records and reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelt exactly `text` (as plans write it), if any.
            pub fn from_name(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The value named `text` (case-insensitive, surrounding blanks ignored), if any.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text.trim()))
            }

            /// Every name, comma-separated, in the type's order (for hints).
            pub fn names() -> String {
                $name::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// CTIA cosmetic grade, best first (`A < E`: `A` is better).
    CtiaCosmetic {
        /// Like new.
        A = "A",
        /// Light wear.
        B = "B",
        /// Visible wear.
        C = "C",
        /// Cover glass cracked.
        D = "D",
        /// Display internals damaged.
        E = "E",
    }
}

vocabulary! {
    /// R2v3 functional category (REC v1.2), worst first: `a > b` means `a` is better. A device
    /// that has no functioning category (CTIA functional 3-9, or an R2 prerequisite not met) is
    /// an R2 controlled stream, recorded as `controlled`.
    R2Functional {
        /// R2 controlled stream: no functioning category (repair, parts, recycle, or an R2
        /// prerequisite not met).
        Controlled = "controlled",
        /// Collectible or specialty equipment.
        F1 = "F1",
        /// Removed from operation with no known defect (verified specialty electronics).
        F2 = "F2",
        /// Key functions verified working; secondary functions may not be.
        F3 = "F3",
        /// All hardware tested and verified working; software not loaded.
        F4 = "F4",
        /// All functions tested and verified with diagnostic software; licensed software loaded.
        F5 = "F5",
        /// All functions verified, OEM parts, meets OEM specifications ("like new").
        F6 = "F6",
    }
}

impl R2Functional {
    /// Whether this is a functioning category (F1-F6), not a controlled stream.
    pub fn is_functioning(self) -> bool {
        self != R2Functional::Controlled
    }
}

vocabulary! {
    /// R2v3 cosmetic category (REC v1.2), worst first: `a > b` means `a` is better.
    R2Cosmetic {
        /// Not categorized.
        C0 = "C0",
        /// Damaged: materials recovery only.
        C1 = "C1",
        /// Used, poor.
        C2 = "C2",
        /// Used, fair.
        C3 = "C3",
        /// Used, good.
        C4 = "C4",
        /// Used, very good.
        C5 = "C5",
        /// Used, excellent.
        C6 = "C6",
        /// Certified pre-owned.
        C7 = "C7",
        /// New, other.
        C8 = "C8",
        /// New, open box.
        C9 = "C9",
    }
}

vocabulary! {
    /// Marketplace grade (cosmetic only; every one requires full function and battery health of
    /// at least 80 %), worst first: `a > b` means `a` is better.
    Marketplace {
        /// Fair.
        Fair = "Fair",
        /// Good.
        Good = "Good",
        /// Excellent.
        Excellent = "Excellent",
        /// Premium.
        Premium = "Premium",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_directions_hold() {
        for v in R2Functional::ALL {
            assert_eq!(R2Functional::parse(v.as_str()), Some(*v));
        }
        for v in R2Cosmetic::ALL {
            assert_eq!(R2Cosmetic::parse(&v.as_str().to_lowercase()), Some(*v));
        }
        assert_eq!(Marketplace::parse("premium"), Some(Marketplace::Premium));
        assert!(R2Functional::F6 > R2Functional::F1);
        assert!(R2Functional::F1 > R2Functional::Controlled);
        assert!(R2Cosmetic::C9 > R2Cosmetic::C1);
        assert!(Marketplace::Premium > Marketplace::Fair);
        assert!(CtiaCosmetic::A < CtiaCosmetic::E);
        assert_eq!(R2Functional::parse("F7"), None);
        assert_eq!(R2Cosmetic::parse("C10"), None);
        assert!(!R2Functional::Controlled.is_functioning());
    }

    /// The phone library states expected outcomes in the same words (benchline-sim cannot
    /// depend on the controller, so it keeps its own lists; they must not drift apart).
    #[test]
    fn the_phone_library_s_expectations_use_this_vocabulary() {
        use std::collections::BTreeSet;
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let cosmetic: Vec<&str> = CtiaCosmetic::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(set(&benchline_sim::phone::COSMETIC_GRADES), set(&cosmetic));
        let market: Vec<&str> = Marketplace::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(set(&benchline_sim::phone::MARKETPLACE_GRADES), set(&market));
        // Every disposition, retest included (a phone left with a prompt unanswered).
        let dispositions: Vec<&str> = crate::grade::Disposition::ALL
            .iter()
            .map(|d| d.as_str())
            .collect();
        assert_eq!(set(&benchline_sim::phone::DISPOSITIONS), set(&dispositions));
        let parts: Vec<&str> = crate::plan::Part::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(set(&benchline_sim::phone::REPAIR_PARTS), set(&parts));
    }
}
