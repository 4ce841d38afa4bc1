//! [`Compatibility`]: a subject's compatibility rule, by the registry's names, and the check
//! of a new schema against a subject's earlier ones that the in-memory registry enforces.

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

/// A subject's compatibility rule, as the registry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// Any schema may follow any other.
    None,
    /// The new schema reads data written with the latest one (the registry's default).
    Backward,
    /// The new schema reads data written with every earlier one.
    BackwardTransitive,
    /// Data written with the new schema is readable with the latest one.
    Forward,
    /// As `Forward`, for every earlier schema.
    ForwardTransitive,
    /// Both `Backward` and `Forward`.
    Full,
    /// Both, for every earlier schema.
    FullTransitive,
}

impl Compatibility {
    /// The registry's name for this rule (`BACKWARD`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checks `new` against the `earlier` schemas of a subject (oldest first); `Err` explains
    /// the first conflict.
    pub(super) fn check(self, new: &Schema, earlier: &[Arc<Schema>]) -> Result<(), String> {
        let (backward, forward, transitive) = match self {
            Compatibility::None => return Ok(()),
            Compatibility::Backward => (true, false, false),
            Compatibility::BackwardTransitive => (true, false, true),
            Compatibility::Forward => (false, true, false),
            Compatibility::ForwardTransitive => (false, true, true),
            Compatibility::Full => (true, true, false),
            Compatibility::FullTransitive => (true, true, true),
        };
        let against: &[Arc<Schema>] = if transitive {
            earlier
        } else {
            earlier.last().map(std::slice::from_ref).unwrap_or(&[])
        };
        for old in against {
            if backward {
                SchemaCompatibility::can_read(old, new).map_err(|e| {
                    format!("the new schema cannot read data written with an earlier one: {e}")
                })?;
            }
            if forward {
                SchemaCompatibility::can_read(new, old).map_err(|e| {
                    format!("an earlier schema cannot read data written with the new one: {e}")
                })?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Compatibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "NONE" => Compatibility::None,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_TRANSITIVE" => Compatibility::BackwardTransitive,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_TRANSITIVE" => Compatibility::ForwardTransitive,
            "FULL" => Compatibility::Full,
            "FULL_TRANSITIVE" => Compatibility::FullTransitive,
            other => {
                return Err(format!(
                    "unknown compatibility `{other}`: allowed are NONE, BACKWARD, \
                     BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_names_round_trip() {
        for c in [
            Compatibility::None,
            Compatibility::Backward,
            Compatibility::BackwardTransitive,
            Compatibility::Forward,
            Compatibility::ForwardTransitive,
            Compatibility::Full,
            Compatibility::FullTransitive,
        ] {
            assert_eq!(c.as_str().parse::<Compatibility>(), Ok(c));
        }
        assert!("backward".parse::<Compatibility>().is_err());
    }
}
