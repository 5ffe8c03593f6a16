//! `cinder-zk`: the identity contract's zero-knowledge tool. An issuer runs
//! `setup` once (the verifying key goes into the contract) and `commit` per
//! credential; a holder runs `prove`; anyone can `verify`. `kat` prints the
//! known-answer vector the VM's tests check (`node/vm/tests/vectors`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ark_bn254::Bn254;
use ark_groth16::{Proof, ProvingKey, VerifyingKey};
use ark_serialize::CanonicalDeserialize;
use cinder_zk::{commit, field_bytes, field_from_bytes, prove, public_inputs, random_salt, setup, to_bytes, verify};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cinder-zk", version, about = "Groth16 credentials for Cinder's identity contract")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make the circuit's keys from a 32-byte seed (hex): writes the proving
    /// key and the verifying key (compressed), prints the verifying key.
    Setup {
        #[arg(long)]
        seed: String,
        #[arg(long)]
        pk: PathBuf,
        #[arg(long)]
        vk: PathBuf,
    },
    /// Commit to an attribute: prints the salt (fresh unless given) and the
    /// commitment the issuer registers.
    Commit {
        #[arg(long)]
        attribute: u32,
        #[arg(long)]
        salt: Option<String>,
    },
    /// Prove that the attribute committed with this salt is at most `bound`.
    Prove {
        #[arg(long)]
        pk: PathBuf,
        #[arg(long)]
        attribute: u32,
        #[arg(long)]
        salt: String,
        #[arg(long)]
        bound: u32,
    },
    /// Check a proof against a verifying key, a commitment and a bound.
    Verify {
        #[arg(long)]
        vk: PathBuf,
        #[arg(long)]
        proof: String,
        #[arg(long)]
        commitment: String,
        #[arg(long)]
        bound: u32,
    },
    /// Print the known-answer vector (fixed seeds) as JSON.
    Kat,
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32]> {
    let b = hex::decode(s.strip_prefix("0x").unwrap_or(s)).with_context(|| format!("{what} is not hex"))?;
    b.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("{what} is {} bytes, not 32", b.len()))
}

fn read<T: CanonicalDeserialize>(path: &PathBuf, what: &str) -> Result<T> {
    let b = std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))?;
    T::deserialize_compressed(&b[..]).map_err(|e| anyhow::anyhow!("{} is not a {what}: {e}", path.display()))
}

/// Errors: one line on stderr, exit 1 (bad arguments: clap's message, exit 2).
fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Setup { seed, pk, vk } => {
            let keys = setup(hex32(&seed, "--seed")?)?;
            std::fs::write(&pk, to_bytes(&keys.pk)).with_context(|| format!("writing {}", pk.display()))?;
            std::fs::write(&vk, to_bytes(&keys.vk)).with_context(|| format!("writing {}", vk.display()))?;
            println!("{}", hex::encode(to_bytes(&keys.vk)));
        }
        Cmd::Commit { attribute, salt } => {
            let salt = match salt {
                Some(s) => field_from_bytes(&hex32(&s, "--salt")?)?,
                None => random_salt()?,
            };
            println!(
                "{{\"salt\":\"{}\",\"commitment\":\"{}\"}}",
                hex::encode(field_bytes(&salt)),
                hex::encode(field_bytes(&commit(attribute, salt)))
            );
        }
        Cmd::Prove { pk, attribute, salt, bound } => {
            let pk: ProvingKey<Bn254> = read(&pk, "proving key")?;
            let salt = field_from_bytes(&hex32(&salt, "--salt")?)?;
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let proof = prove(&pk, attribute, salt, bound, seed)?;
            println!(
                "{{\"proof\":\"{}\",\"commitment\":\"{}\",\"bound\":{bound}}}",
                hex::encode(to_bytes(&proof)),
                hex::encode(field_bytes(&commit(attribute, salt)))
            );
        }
        Cmd::Verify { vk, proof, commitment, bound } => {
            let vk: VerifyingKey<Bn254> = read(&vk, "verifying key")?;
            let p = hex::decode(proof.strip_prefix("0x").unwrap_or(&proof)).context("--proof is not hex")?;
            let proof =
                Proof::<Bn254>::deserialize_compressed(&p[..]).map_err(|e| anyhow::anyhow!("not a proof: {e}"))?;
            let c = field_from_bytes(&hex32(&commitment, "--commitment")?)?;
            if !verify(&vk, &public_inputs(c, bound), &proof)? {
                bail!("the proof does not verify");
            }
            println!("valid");
        }
        Cmd::Kat => println!("{}", cinder_zk::kat::json()?),
    }
    Ok(())
}
