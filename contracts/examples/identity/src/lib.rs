//! Digital identity and credentials: a registry of issuers, credentials
//! held as commitments, revocation, and zero-knowledge checks of what a
//! credential says (the shape of W3C verifiable credentials with
//! selective disclosure, on chain).
//!
//! - The registry's admin (the deployer) registers issuers (a
//!   government office, a university, a bank) and may remove them.
//! - An issuer issues a credential to a holder: a schema name (say
//!   `birth-year`) and a commitment `C = Poseidon(attribute, salt)` (BN254;
//!   `cinder-zk commit`). The attribute and the salt go to the holder off
//!   chain; the chain sees only `C`. The issuer may revoke it.
//! - The holder proves a statement about the attribute without showing it:
//!   "the attribute in `C` is at most `bound`" (born in or before `bound`:
//!   of age), a Groth16 proof (`cinder-zk prove`) that this contract checks
//!   with the chain's `groth16_verify` against the verifying key set at
//!   `init`. A valid proof of a live credential is recorded, so others (a
//!   DeFi pool that needs adult users, say) ask `proven(holder, schema,
//!   bound)` instead of re-verifying.
//!
//! Events: `Issued` [BLAKE3("Issued"), issuer, holder] with the id,
//! `Revoked` [BLAKE3("Revoked"), issuer, holder] with the id, `Proven`
//! [BLAKE3("Proven"), holder] with (id, bound).

use cinder_sdk::env::Groth16;
use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const ADMIN: Item<Address> = Item::new(b"admin");
const VK: Item<Vec<u8>> = Item::new(b"vk");
const ISSUERS: Map<Address, String> = Map::new(b"iss/");
const NEXT_ID: Item<u64> = Item::new(b"next");
/// id -> (issuer, holder, schema, commitment, issued at, revoked).
const CREDENTIALS: Map<u64, (Address, Address, String, [u8; 32], u64, bool)> = Map::new(b"c/");
/// (holder, schema) -> the best bound proven (lowest) and the credential.
const PROVEN: Map<(Address, String), (u32, u64)> = Map::new(b"pr/");

fn only_admin() -> Result<()> {
    ensure!(ADMIN.load() == Some(env::caller()), "only the registry's admin may do this");
    Ok(())
}

contract! {
    /// A registry whose age-style proofs verify against `vk` (the
    /// compressed Groth16 verifying key of `cinder-zk setup`).
    pub fn init(vk: Vec<u8>) -> Result<()> {
        ensure!(!vk.is_empty() && vk.len() <= 2048, "the verifying key is 1 to 2,048 bytes");
        ADMIN.save(&env::caller());
        VK.save(&vk);
        Ok(())
    }

    /// Registers (or renames) an issuer; the admin only.
    pub fn add_issuer(issuer: Address, name: String) -> Result<()> {
        only_admin()?;
        ensure!(!name.is_empty() && name.len() <= 64, "the name is 1 to 64 bytes");
        ISSUERS.set(&issuer, &name);
        Ok(())
    }

    /// Removes an issuer: its credentials stop counting; the admin only.
    pub fn remove_issuer(issuer: Address) -> Result<()> {
        only_admin()?;
        ensure!(ISSUERS.get(&issuer).is_some(), "not an issuer");
        ISSUERS.remove(&issuer);
        Ok(())
    }

    /// Issues `holder` a credential of `schema` committing to an attribute
    /// (`commitment`, 32 bytes little-endian); the caller must be an
    /// issuer. Returns its id.
    pub fn issue(holder: Address, schema: String, commitment: [u8; 32]) -> Result<u64> {
        let issuer = env::caller();
        ensure!(ISSUERS.get(&issuer).is_some(), "only a registered issuer may issue");
        ensure!(!schema.is_empty() && schema.len() <= 64, "the schema is 1 to 64 bytes");
        let id = NEXT_ID.load_or(0);
        NEXT_ID.save(&(id + 1));
        CREDENTIALS.set(&id, &(issuer, holder, schema, commitment, env::block_height(), false));
        env::emit(&[topic("Issued"), issuer.0, holder.0], &encode(&id));
        Ok(id)
    }

    /// Revokes credential `id`; its issuer only.
    pub fn revoke(id: u64) -> Result<()> {
        let (issuer, holder, schema, commitment, at, revoked) = CREDENTIALS.get(&id).ok_or("no such credential")?;
        ensure!(issuer == env::caller(), "only the credential's issuer may revoke it");
        ensure!(!revoked, "already revoked");
        CREDENTIALS.set(&id, &(issuer, holder, schema.clone(), commitment, at, true));
        if PROVEN.get(&(holder, schema.clone())).map(|(_, c)| c) == Some(id) {
            PROVEN.remove(&(holder, schema));
        }
        env::emit(&[topic("Revoked"), issuer.0, holder.0], &encode(&id));
        Ok(())
    }

    /// Checks a proof that credential `id`'s attribute is at most `bound`
    /// and records it for the holder. Fails if the credential is revoked,
    /// its issuer removed, or the proof does not verify.
    pub fn prove_at_most(id: u64, bound: u32, proof: Vec<u8>) -> Result<()> {
        let (issuer, holder, schema, commitment, _, revoked) = CREDENTIALS.get(&id).ok_or("no such credential")?;
        ensure!(!revoked, "the credential is revoked");
        ensure!(ISSUERS.get(&issuer).is_some(), "the credential's issuer is no longer registered");
        let vk = VK.load().ok_or("no verifying key")?;
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&bound.to_le_bytes());
        match env::groth16_verify(&vk, &proof, &[commitment, b]) {
            Groth16::Valid => {}
            Groth16::Invalid => return Err("the proof does not verify".into()),
            Groth16::Malformed => return Err("the proof is malformed".into()),
        }
        let better = match PROVEN.get(&(holder, schema.clone())) {
            Some((old, _)) => bound < old,
            None => true,
        };
        if better {
            PROVEN.set(&(holder, schema), &(bound, id));
        }
        env::emit(&[topic("Proven"), holder.0], &encode(&(id, bound)));
        Ok(())
    }

    /// Whether `holder` has proven a live `schema` credential's attribute
    /// to be at most `bound`.
    pub fn proven(holder: Address, schema: String, bound: u32) -> Result<bool> {
        let (best, id) = match PROVEN.get(&(holder, schema)) {
            Some(p) => p,
            None => return Ok(false),
        };
        let (issuer, _, _, _, _, revoked) = CREDENTIALS.get(&id).ok_or("no such credential")?;
        Ok(best <= bound && !revoked && ISSUERS.get(&issuer).is_some())
    }

    /// (issuer, holder, schema, commitment, issued at, revoked).
    pub fn credential(id: u64) -> Result<(Address, Address, String, [u8; 32], u64, bool)> {
        Ok(CREDENTIALS.get(&id).ok_or("no such credential")?)
    }

    /// The issuer's name, if registered.
    pub fn issuer(who: Address) -> Result<Option<String>> {
        Ok(ISSUERS.get(&who))
    }
}
