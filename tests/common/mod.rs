//! What the integration tests share. Each test binary declares `mod common;` and uses its own
//! subset, so items unused by one binary are expected.
#![allow(dead_code)]

pub mod runs;
pub mod test_cluster;
