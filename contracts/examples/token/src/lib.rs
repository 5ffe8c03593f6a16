//! A fungible token: balances, transfers, allowances (`approve` /
//! `transfer_from`, `increase_allowance` / `decrease_allowance`), a mint
//! authority with a supply cap, burning, `Transfer` and `Approval` events,
//! and a paged list of holders (the shape of cw20 and OpenZeppelin's
//! ERC20Capped).
//!
//! Events: `Transfer` has topics [BLAKE3("Transfer"), from, to] and the
//! amount (u128) as data (from is all zeros when minted, to is all zeros
//! when burned); `Approval` has [BLAKE3("Approval"), owner, spender] and
//! the amount; `Minter` has [BLAKE3("Minter"), old, new] (zeros: none).

use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const NAME: Item<String> = Item::new(b"name");
const SYMBOL: Item<String> = Item::new(b"symbol");
const DECIMALS: Item<u8> = Item::new(b"decimals");
const SUPPLY: Item<u128> = Item::new(b"supply");
const BALANCES: Map<Address, u128> = Map::new(b"bal/");
const ALLOWANCES: Map<(Address, Address), u128> = Map::new(b"allow/");
const MINTER: Item<Address> = Item::new(b"minter");
const CAP: Item<u128> = Item::new(b"cap");

/// The most holders one `holders` call lists.
const MAX_PAGE: u32 = 100;

fn set_allowance(owner: Address, spender: Address, amount: u128) {
    if amount == 0 {
        ALLOWANCES.remove(&(owner, spender));
    } else {
        ALLOWANCES.set(&(owner, spender), &amount);
    }
    env::emit(&[topic("Approval"), owner.0, spender.0], &encode(&amount));
}

fn only_minter() -> Result<()> {
    ensure!(MINTER.load() == Some(env::caller()), "only the minter may do this");
    Ok(())
}

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
    /// Creates the token: `supply` units go to the deployer, who is also
    /// the minter; `cap` bounds the supply for good (`None`: only u128).
    pub fn init(name: String, symbol: String, decimals: u8, supply: u128, cap: Option<u128>) -> Result<()> {
        ensure!(!name.is_empty() && name.len() <= 64, "the name must be 1 to 64 bytes");
        ensure!(!symbol.is_empty() && symbol.len() <= 16, "the symbol must be 1 to 16 bytes");
        ensure!(decimals <= 36, "at most 36 decimals");
        if let Some(cap) = cap {
            ensure!(supply <= cap, "the initial supply is above the cap");
            CAP.save(&cap);
        }
        let owner = env::caller();
        MINTER.save(&owner);
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
        set_allowance(env::caller(), spender, amount);
        Ok(())
    }

    /// Raises `spender`'s allowance by `by` (no race with a spend, unlike
    /// a second `approve`); returns the new allowance.
    pub fn increase_allowance(spender: Address, by: u128) -> Result<u128> {
        let owner = env::caller();
        let a = ALLOWANCES.get_or(&(owner, spender), 0).checked_add(by).ok_or("the allowance overflows")?;
        set_allowance(owner, spender, a);
        Ok(a)
    }

    /// Lowers `spender`'s allowance by `by`, to zero at least; returns it.
    pub fn decrease_allowance(spender: Address, by: u128) -> Result<u128> {
        let owner = env::caller();
        let a = ALLOWANCES.get_or(&(owner, spender), 0).saturating_sub(by);
        set_allowance(owner, spender, a);
        Ok(a)
    }

    /// Creates `amount` new units for `to` (the minter only, within the cap).
    pub fn mint(to: Address, amount: u128) -> Result<()> {
        only_minter()?;
        let supply = SUPPLY.load_or(0).checked_add(amount).ok_or("the supply overflows")?;
        if let Some(cap) = CAP.load() {
            ensure!(supply <= cap, "minting this would pass the cap");
        }
        SUPPLY.save(&supply);
        let credited = BALANCES.get_or(&to, 0).checked_add(amount).ok_or("the recipient's balance overflows")?;
        if credited > 0 {
            BALANCES.set(&to, &credited);
        }
        env::emit(&[topic("Transfer"), [0; 32], to.0], &encode(&amount));
        Ok(())
    }

    /// Destroys `amount` of the caller's units.
    pub fn burn(amount: u128) -> Result<()> {
        let owner = env::caller();
        let held = BALANCES.get_or(&owner, 0);
        ensure!(held >= amount, "insufficient balance");
        if held == amount {
            BALANCES.remove(&owner);
        } else {
            BALANCES.set(&owner, &(held - amount));
        }
        SUPPLY.save(&(SUPPLY.load_or(0) - amount));
        env::emit(&[topic("Transfer"), owner.0, [0; 32]], &encode(&amount));
        Ok(())
    }

    /// Hands the mint authority to `minter`, or ends minting for good
    /// (`None`); the minter only.
    pub fn set_minter(minter: Option<Address>) -> Result<()> {
        only_minter()?;
        let old = env::caller();
        match minter {
            Some(m) => MINTER.save(&m),
            None => MINTER.remove(),
        }
        env::emit(&[topic("Minter"), old.0, minter.unwrap_or_default().0], &[]);
        Ok(())
    }

    /// Who may mint (`None`: nobody, ever again).
    pub fn minter() -> Result<Option<Address>> {
        Ok(MINTER.load())
    }

    /// The supply cap (`None`: none but u128's).
    pub fn cap() -> Result<Option<u128>> {
        Ok(CAP.load())
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
