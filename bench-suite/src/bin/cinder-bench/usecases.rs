//! `cinder-bench usecases`: what the use-case contracts cost, on one core,
//! each operation a whole transaction on the host harness (fee, instance,
//! nested calls, storage): an AMM swap, a DAO vote, a credential's
//! Groth16 proof checked by the identity contract (and the host check
//! alone, µs per verify), a custody handover and its receipt.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use borsh::BorshSerialize;
use cinder_primitives::Address;
use cinder_vm::harness::TestChain;

use crate::Failure;

/// Options of `cinder-bench usecases`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Operations timed of each kind.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Groth16 proofs checked by the identity contract (each about 2 ms).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    proofs: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).unwrap_or_default()
}

/// One operation's figures: mean gas and mean wall time of its
/// transactions.
#[derive(Clone, Copy, Debug, Default)]
struct Figure {
    n: u32,
    gas: u64,
    us: f64,
}

impl Figure {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n, "gas": self.gas, "us": self.us })
    }
}

/// Runs `n` calls from `make(i)`, each must succeed; their mean gas and
/// time.
fn measure(
    c: &mut TestChain,
    n: u32,
    mut make: impl FnMut(u32) -> (Address, Address, &'static str, Vec<u8>),
) -> Result<Figure> {
    let mut gas = 0u64;
    let start = Instant::now();
    for i in 0..n {
        let (from, to, method, args) = make(i);
        let r = c.call(from, to, method, &args, 0)?;
        if !r.status.is_success() {
            bail!("{method} failed: {:?}", r.status);
        }
        gas += r.gas_used;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    Ok(Figure { n, gas: gas / u64::from(n), us })
}

fn ok(c: &mut TestChain, from: Address, to: Address, method: &str, args: Vec<u8>) -> Result<Vec<u8>> {
    let r = c.call(from, to, method, &args, 0)?;
    if !r.status.is_success() {
        bail!("setting up: {method} failed: {:?}", r.status);
    }
    Ok(r.output)
}

fn deploy(c: &mut TestChain, from: Address, code: &[u8], args: Vec<u8>) -> Result<Address> {
    let r = c.deploy(from, code, &args)?;
    r.created.filter(|_| r.status.is_success()).with_context(|| format!("deploy failed: {:?}", r.status))
}

fn token(c: &mut TestChain, owner: Address, symbol: &str) -> Result<Address> {
    let args = enc(&("Bench".to_string(), symbol.to_string(), 6u8, 1_000_000_000_000_000u128, None::<u128>));
    deploy(c, owner, cinder_contracts::TOKEN, args)
}

fn swap(c: &mut TestChain, n: u32) -> Result<Figure> {
    let lp = c.account(1 << 100);
    let trader = c.account(1 << 100);
    let (a, b) = (token(c, lp, "AAA")?, token(c, lp, "BBB")?);
    let pool = deploy(c, lp, cinder_contracts::SWAP, enc(&(a, b, 30u32, None::<Address>)))?;
    for t in [a, b] {
        ok(c, lp, t, "approve", enc(&(pool, u128::MAX)))?;
        ok(c, lp, t, "transfer", enc(&(trader, 1_000_000_000u128)))?;
        ok(c, trader, t, "approve", enc(&(pool, u128::MAX)))?;
    }
    ok(c, lp, pool, "add_liquidity", enc(&(1_000_000_000_000u128, 1_000_000_000_000u128, 0u128)))?;
    measure(c, n, |i| (trader, pool, "swap", enc(&(if i % 2 == 0 { a } else { b }, 1_000_000u128, 0u128))))
}

fn dao_vote(c: &mut TestChain, n: u32) -> Result<Figure> {
    let owner = c.account(1 << 100);
    let gov = token(c, owner, "GOV")?;
    let dao = deploy(c, owner, cinder_contracts::DAO, enc(&(gov, 1_000u32, 5_000u32, 1_000_000u64, 0u64)))?;
    let mut members = Vec::new();
    for _ in 0..n {
        let m = c.account(1 << 100);
        ok(c, owner, gov, "transfer", enc(&(m, 1_000u128)))?;
        ok(c, m, gov, "approve", enc(&(dao, 1_000u128)))?;
        ok(c, m, dao, "deposit", enc(&(1_000u128,)))?;
        members.push(m);
    }
    ok(c, members[0], dao, "propose", enc(&("Bench".to_string(), Vec::<(Address, String, Vec<u8>, u128)>::new())))?;
    measure(c, n, |i| (members[i as usize], dao, "vote", enc(&(0u64, (i % 3) as u8))))
}

fn credentials(c: &mut TestChain, proofs: u32) -> Result<(Figure, f64, f64)> {
    let keys = cinder_zk::setup([0x71; 32])?;
    let vk = cinder_zk::to_bytes(&keys.vk);
    let admin = c.account(1 << 100);
    let holder = c.account(1 << 100);
    let id = deploy(c, admin, cinder_contracts::IDENTITY, enc(&(vk.clone(),)))?;
    ok(c, admin, id, "add_issuer", enc(&(admin, "Bench".to_string())))?;
    let salt = cinder_zk::salt_from_seed([0x72; 32]);
    let commitment = cinder_zk::field_bytes(&cinder_zk::commit(1990, salt));
    ok(c, admin, id, "issue", enc(&(holder, "birth-year".to_string(), commitment)))?;
    let proof = cinder_zk::to_bytes(&cinder_zk::prove(&keys.pk, 1990, salt, 2008, [0x73; 32])?);
    // The host check alone: the first call parses and prepares the key.
    let inputs: Vec<u8> = cinder_zk::public_inputs(cinder_zk::commit(1990, salt), 2008).concat();
    let t = Instant::now();
    let first = cinder_vm::zk::groth16_verify(&vk, &proof, &inputs);
    let first_us = t.elapsed().as_secs_f64() * 1e6;
    if first != cinder_vm::zk::ProofCheck::Valid {
        bail!("the bench proof does not verify: {first:?}");
    }
    let t = Instant::now();
    for _ in 0..proofs {
        if cinder_vm::zk::groth16_verify(&vk, &proof, &inputs) != cinder_vm::zk::ProofCheck::Valid {
            bail!("a verification failed");
        }
    }
    let host_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(proofs);
    let f = measure(c, proofs, |_| (holder, id, "prove_at_most", enc(&(0u64, 2008u32, proof.clone()))))?;
    Ok((f, host_us, first_us))
}

fn custody(c: &mut TestChain, n: u32) -> Result<(Figure, Figure)> {
    let admin = c.account(1 << 100);
    let x = c.account(1 << 100);
    let y = c.account(1 << 100);
    let sc = deploy(c, admin, cinder_contracts::SUPPLY, enc(&()))?;
    ok(c, admin, sc, "set_role", enc(&(x, 1u8)))?;
    ok(c, admin, sc, "set_role", enc(&(y, 1u8)))?;
    let item = *blake3::hash(b"bench item").as_bytes();
    ok(c, x, sc, "create", enc(&(item, item)))?;
    // Handover and receipt alternate: x -> y, then y -> x.
    let (mut hand, mut recv) = (Figure::default(), Figure::default());
    let holders = [x, y];
    for i in 0..n {
        let (from, to) = (holders[(i % 2) as usize], holders[((i + 1) % 2) as usize]);
        let h = measure(c, 1, |_| (from, sc, "hand_over", enc(&(item, to, item))))?;
        let r = measure(c, 1, |_| (to, sc, "receive", enc(&(item, item))))?;
        hand.gas += h.gas;
        hand.us += h.us;
        recv.gas += r.gas;
        recv.us += r.us;
    }
    for f in [&mut hand, &mut recv] {
        f.n = n;
        f.gas /= u64::from(n);
        f.us /= f64::from(n);
    }
    Ok((hand, recv))
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let mut c = TestChain::new()?;
    let swap = swap(&mut c, a.n)?;
    let vote = dao_vote(&mut c, a.n)?;
    let (cred, host_us, first_us) = credentials(&mut c, a.proofs)?;
    let (hand, recv) = custody(&mut c, a.n)?;
    if a.json {
        let v = serde_json::json!({
            "swap": swap.json(),
            "dao_vote": vote.json(),
            "credential": cred.json(),
            "groth16_host_us": host_us,
            "groth16_first_us": first_us,
            "handover": hand.json(),
            "receive": recv.json(),
        });
        println!("{v}");
        return Ok(());
    }
    println!("one core, each operation a whole transaction on the host harness (mean of n)");
    println!("{:<44} {:>10} {:>12}", "operation", "gas", "us / tx");
    for (name, f) in [
        ("AMM swap (2 token calls)", swap),
        ("DAO vote (snapshot lookup)", vote),
        ("credential proof (identity, Groth16)", cred),
        ("custody handover", hand),
        ("custody receipt", recv),
    ] {
        println!("{name:<44} {:>10} {:>12.1}   (n = {})", f.gas, f.us, f.n);
    }
    println!(
        "Groth16 check alone (host, key prepared): {host_us:.0} us per verify; first call with the key's parsing: {first_us:.0} us"
    );
    Ok(())
}
