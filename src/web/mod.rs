//! web: browsing and reporting the store from outside a run.
//!
//! `serve` is a small static HTTP server over `results/`, `compare` tells what changed between
//! two stored runs, and `junit` turns runs into JUnit XML for nightly CI jobs. None of them
//! writes into the store; all of them read `results.json` as `faultline test` wrote it.

pub mod compare;
pub mod junit;
pub mod serve;
