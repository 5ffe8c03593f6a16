//! A fungible token: balances, transfers, allowances (`approve` /
//! `transfer_from`), `Transfer` and `Approval` events, and a paged list of
//! holders.
//!
//! Events: `Transfer` has topics [BLAKE3("Transfer"), from, to] and the
//! amount (u128) as data (from is all zeros when minted at `init`);
//! `Approval` has [BLAKE3("Approval"), owner, spender] and the amount.

use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const NAME: Item<String> = Item::new(b"name");
const SYMBOL: Item<String> = Item::new(b"symbol");
const DECIMALS: Item<u8> = Item::new(b"decimals");
const SUPPLY: Item<u128> = Item::new(b"supply");
const BALANCES: Map<Address, u128> = Map::new(b"bal/");
const ALLOWANCES: Map<(Address, Address), u128> = Map::new(b"allow/");

/// The most holders one `holders` call lists.
const MAX_PAGE: u32 = 100;

fn move_tokens(from: Address, to: Address, amount: u128) -> Result<()> {
    let held = BALANCES.get_or(&from, 0);
    ensure!(held >= amount, "insufficient balance");
    if from != to && amount > 0 {
        let left = held - amount;
        if left == 0 {
            BALANCES.remove(&from);
        } else {
            BALANCES.set(&from, &left);
        }
        let credited = BALANCES.get_or(&to, 0).checked_add(amount).ok_or("the recipient's balance overflows")?;
        BALANCES.set(&to, &credited);
    }
    env::emit(&[topic("Transfer"), from.0, to.0], &encode(&amount));
    Ok(())
}

contract! {
    /// Creates the token: `supply` units go to the deployer.
    pub fn init(name: String, symbol: String, decimals: u8, supply: u128) -> Result<()> {
        ensure!(!name.is_empty() && name.len() <= 64, "the name must be 1 to 64 bytes");
        ensure!(!symbol.is_empty() && symbol.len() <= 16, "the symbol must be 1 to 16 bytes");
        ensure!(decimals <= 36, "at most 36 decimals");
        let owner = env::caller();
        NAME.save(&name);
        SYMBOL.save(&symbol);
        DECIMALS.save(&decimals);
        SUPPLY.save(&supply);
        if supply > 0 {
            BALANCES.set(&owner, &supply);
        }
        env::emit(&[topic("Transfer"), [0; 32], owner.0], &encode(&supply));
        Ok(())
    }

    /// Moves `amount` from the caller to `to`.
    pub fn transfer(to: Address, amount: u128) -> Result<()> {
        move_tokens(env::caller(), to, amount)
    }

    /// Lets `spender` move up to `amount` of the caller's tokens.
    pub fn approve(spender: Address, amount: u128) -> Result<()> {
        let owner = env::caller();
        if amount == 0 {
            ALLOWANCES.remove(&(owner, spender));
        } else {
            ALLOWANCES.set(&(owner, spender), &amount);
        }
        env::emit(&[topic("Approval"), owner.0, spender.0], &encode(&amount));
        Ok(())
    }

    /// Moves `amount` from `owner` to `to` out of the caller's allowance.
    pub fn transfer_from(owner: Address, to: Address, amount: u128) -> Result<()> {
        let spender = env::caller();
        let allowed = ALLOWANCES.get_or(&(owner, spender), 0);
        ensure!(allowed >= amount, "the allowance is too small");
        let left = allowed - amount;
        if left == 0 {
            ALLOWANCES.remove(&(owner, spender));
        } else {
            ALLOWANCES.set(&(owner, spender), &left);
        }
        move_tokens(owner, to, amount)
    }

    /// The balance of `who`.
    pub fn balance_of(who: Address) -> Result<u128> {
        Ok(BALANCES.get_or(&who, 0))
    }

    /// What `spender` may still move of `owner`'s tokens.
    pub fn allowance(owner: Address, spender: Address) -> Result<u128> {
        Ok(ALLOWANCES.get_or(&(owner, spender), 0))
    }

    /// All units in existence.
    pub fn total_supply() -> Result<u128> {
        Ok(SUPPLY.load_or(0))
    }

    /// Name, symbol and decimals.
    pub fn info() -> Result<(String, String, u8)> {
        Ok((NAME.load_or(String::new()), SYMBOL.load_or(String::new()), DECIMALS.load_or(0)))
    }

    /// Holders and balances in address order, after `after`, at most
    /// `limit` (at most 100).
    pub fn holders(after: Option<Address>, limit: u32) -> Result<Vec<(Address, u128)>> {
        ensure!(limit <= MAX_PAGE, "at most 100 holders a page");
        Ok(BALANCES.page(after.as_ref(), limit))
    }
}
