//! Integration tests of the consensus rules: the retarget under simulated
//! hashrate swings.

mod retarget;
