//! The voting core explored: deterministic simulation of four validators
//! with faults (sim), and an exhaustive model check with stateright
//! (model).

mod model;
mod sim;
