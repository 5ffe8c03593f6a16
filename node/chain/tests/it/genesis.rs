//! The committed chain specs: the devnet's accounts derive from their
//! documented seeds, and its genesis id is pinned (a change to the
//! encoding, the state tree or genesis construction shows up here).

use cinder_chain::{genesis, workload};
use cinder_consensus::ChainSpec;

const DEVNET: &str = include_str!("../../specs/devnet.toml");
const DEVNET_GENESIS: &str = "0x31f3590ffa8e352f85e8dd03b63a3acb454d892a4a94a346a34a297b31430bec";

#[test]
fn devnet_accounts_derive_from_cinder_devnet_seeds() {
    let spec = ChainSpec::from_toml(DEVNET).unwrap();
    let expected: Vec<String> = (0..spec.alloc.len() as u64)
        .map(|i| cinder_primitives::Address::from_public_key(&workload::key("cinder-devnet", i).public_key()).to_hex())
        .collect();
    let got: Vec<String> = spec.alloc.iter().map(|a| a.address.to_hex()).collect();
    assert_eq!(got, expected);
}

#[test]
fn devnet_genesis_id_is_pinned() {
    let spec = ChainSpec::from_toml(DEVNET).unwrap();
    let id = genesis::block(&spec).unwrap().id();
    println!("devnet genesis {id}");
    assert_eq!(id.to_hex(), DEVNET_GENESIS);
}
