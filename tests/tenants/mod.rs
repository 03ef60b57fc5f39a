//! The attack scenarios, one module per finding.

mod bounds;
