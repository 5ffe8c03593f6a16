//! The committed chain specs: the devnet's accounts derive from their
//! documented seeds, and its genesis id is pinned (a change to the
//! encoding, the state tree or genesis construction shows up here).

use cinder_chain::{genesis, workload};
use cinder_consensus::ChainSpec;

const DEVNET: &str = include_str!("../../specs/devnet.toml");
const DEVNET_GENESIS: &str = "0xd47206a88c225250b08627f3ea3d4eb7a91af4cbdd2985038ef4aabc9aaa0426";

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
