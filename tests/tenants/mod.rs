//! The attack scenarios, one module per finding.

mod fairness;
mod stall;
