//! Tokenized real-world assets: each asset a non-fungible token with the
//! hash of its off-chain documents (deed, appraisal, custody agreement),
//! transfers restricted to an allowlist the issuer keeps (the investors
//! it has checked), and fractional ownership: an asset locked here while
//! a fungible token (`contracts/examples/token`) counts its shares (the
//! shape of cw721 with ERC-3643-style transfer restrictions and a
//! fractional vault).
//!
//! Fractions: the owner deploys a token with zero supply, hands its mint
//! authority to this contract (`set_minter`), then calls `fractionalize`;
//! the asset is locked and the shares minted to the owner, who may sell
//! them freely. Whoever gathers all the shares redeems the asset: the
//! shares are burned and the asset is theirs (if they are allowed).
//!
//! Events: `Transfer` [BLAKE3("Transfer"), from, to] with the asset id
//! (from zeros: minted), `Allowed` [BLAKE3("Allowed"), account] with a
//! bool, `Fractionalized` [BLAKE3("Fractionalized"), token] with (id,
//! shares), `Redeemed` [BLAKE3("Redeemed"), redeemer] with the id.

use cinder_sdk::{Address, Item, Map, Result, contract, decode, encode, ensure, env, topic};

const ISSUER: Item<Address> = Item::new(b"issuer");
const NAME: Item<String> = Item::new(b"name");
const ALLOWED: Map<Address, bool> = Map::new(b"ok/");
const NEXT_ID: Item<u64> = Item::new(b"next");
/// id -> (owner, metadata hash, approved spender).
const ASSETS: Map<u64, (Address, [u8; 32], Option<Address>)> = Map::new(b"a/");
/// id -> (share token, shares) while fractionalized.
const FRACTIONS: Map<u64, (Address, u128)> = Map::new(b"f/");

fn only_issuer() -> Result<()> {
    ensure!(ISSUER.load() == Some(env::caller()), "only the issuer may do this");
    Ok(())
}

fn allowed(who: &Address) -> bool {
    ALLOWED.get(who).unwrap_or(false)
}

fn load(id: u64) -> Result<(Address, [u8; 32], Option<Address>)> {
    Ok(ASSETS.get(&id).ok_or("no such asset")?)
}

fn move_asset(id: u64, from: Address, to: Address, meta: [u8; 32]) {
    ASSETS.set(&id, &(to, meta, None));
    env::emit(&[topic("Transfer"), from.0, to.0], &encode(&id));
}

fn call_token<T: cinder_sdk::Decode>(token: &Address, method: &str, args: &[u8]) -> Result<T> {
    let out = env::call(token, method, args, 0, 0)?;
    Ok(decode(&out).ok_or("the token answered in another shape")?)
}

contract! {
    /// A collection of assets issued by the deployer.
    pub fn init(name: String) -> Result<()> {
        ensure!(!name.is_empty() && name.len() <= 64, "the name is 1 to 64 bytes");
        ISSUER.save(&env::caller());
        NAME.save(&name);
        ALLOWED.set(&env::caller(), &true);
        Ok(())
    }

    /// Allows `account` to hold assets (or stops allowing it: what it holds
    /// stays, it cannot receive more); the issuer only.
    pub fn set_allowed(account: Address, ok: bool) -> Result<()> {
        only_issuer()?;
        if ok {
            ALLOWED.set(&account, &true);
        } else {
            ALLOWED.remove(&account);
        }
        env::emit(&[topic("Allowed"), account.0], &encode(&ok));
        Ok(())
    }

    /// Issues a new asset to `to` (allowed) with the hash of its documents;
    /// the issuer only. Returns its id.
    pub fn mint(to: Address, metadata_hash: [u8; 32]) -> Result<u64> {
        only_issuer()?;
        ensure!(allowed(&to), "the recipient is not on the allowlist");
        let id = NEXT_ID.load_or(0);
        NEXT_ID.save(&(id + 1));
        move_asset(id, Address::default(), to, metadata_hash);
        Ok(id)
    }

    /// Moves asset `id` to `to` (allowed): by its owner or the spender it
    /// approved. A fractionalized asset cannot move.
    pub fn transfer(id: u64, to: Address) -> Result<()> {
        let (owner, meta, spender) = load(id)?;
        let caller = env::caller();
        ensure!(caller == owner || spender == Some(caller), "only the owner or its approved spender may move it");
        ensure!(FRACTIONS.get(&id).is_none(), "the asset is fractionalized");
        ensure!(allowed(&to), "the recipient is not on the allowlist");
        move_asset(id, owner, to, meta);
        Ok(())
    }

    /// Lets `spender` move asset `id` once (`None`: nobody); the owner only.
    pub fn approve(id: u64, spender: Option<Address>) -> Result<()> {
        let (owner, meta, _) = load(id)?;
        ensure!(owner == env::caller(), "only the owner may approve");
        ASSETS.set(&id, &(owner, meta, spender));
        Ok(())
    }

    /// Locks asset `id` here and mints `shares` of `token` to its owner.
    /// `token` must have no supply and this contract as its minter.
    pub fn fractionalize(id: u64, token: Address, shares: u128) -> Result<()> {
        let (owner, meta, _) = load(id)?;
        ensure!(owner == env::caller(), "only the owner may fractionalize");
        ensure!(FRACTIONS.get(&id).is_none(), "already fractionalized");
        ensure!(shares > 0, "at least one share");
        let me = env::self_address();
        let minter: Option<Address> = call_token(&token, "minter", &[])?;
        ensure!(minter == Some(me), "the share token's minter must be this contract");
        let supply: u128 = call_token(&token, "total_supply", &[])?;
        ensure!(supply == 0, "the share token must have no supply yet");
        FRACTIONS.set(&id, &(token, shares));
        ASSETS.set(&id, &(me, meta, None));
        env::call(&token, "mint", &encode(&(owner, shares)), 0, 0)?;
        env::emit(&[topic("Transfer"), owner.0, me.0], &encode(&id));
        env::emit(&[topic("Fractionalized"), token.0], &encode(&(id, shares)));
        Ok(())
    }

    /// Gives asset `id` back whole to a caller (allowed) holding every
    /// share: the shares come here (approve this contract first) and are
    /// burned.
    pub fn redeem(id: u64) -> Result<()> {
        let (token, shares) = FRACTIONS.get(&id).ok_or("the asset is not fractionalized")?;
        let (_, meta, _) = load(id)?;
        let caller = env::caller();
        ensure!(allowed(&caller), "the redeemer is not on the allowlist");
        let me = env::self_address();
        env::call(&token, "transfer_from", &encode(&(caller, me, shares)), 0, 0)?;
        env::call(&token, "burn", &encode(&(shares,)), 0, 0)?;
        FRACTIONS.remove(&id);
        move_asset(id, me, caller, meta);
        env::emit(&[topic("Redeemed"), caller.0], &encode(&id));
        Ok(())
    }

    /// (owner, metadata hash, approved spender, share token and shares if
    /// fractionalized).
    pub fn asset(id: u64) -> Result<(Address, [u8; 32], Option<Address>, Option<(Address, u128)>)> {
        let (owner, meta, spender) = load(id)?;
        Ok((owner, meta, spender, FRACTIONS.get(&id)))
    }

    /// Whether `account` may hold assets.
    pub fn is_allowed(account: Address) -> Result<bool> {
        Ok(allowed(&account))
    }

    /// The collection's name and issuer.
    pub fn info() -> Result<(String, Address)> {
        Ok((NAME.load_or(String::new()), ISSUER.load().unwrap_or_default()))
    }
}
