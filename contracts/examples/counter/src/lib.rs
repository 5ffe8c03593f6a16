//! A counter: anyone increments it, its owner resets it.

use cinder_sdk::{Address, Item, Result, contract, ensure, env};

const COUNT: Item<u64> = Item::new(b"count");
const OWNER: Item<Address> = Item::new(b"owner");

contract! {
    /// Starts at `start`; the deployer owns it.
    pub fn init(start: u64) -> Result<()> {
        COUNT.save(&start);
        OWNER.save(&env::caller());
        Ok(())
    }

    /// Adds `by`; returns the new count.
    pub fn increment(by: u64) -> Result<u64> {
        let n = COUNT.load_or(0).checked_add(by).ok_or("the counter overflows")?;
        COUNT.save(&n);
        Ok(n)
    }

    /// The count.
    pub fn get() -> Result<u64> {
        Ok(COUNT.load_or(0))
    }

    /// Back to zero (the owner only).
    pub fn reset() -> Result<()> {
        ensure!(Some(env::caller()) == OWNER.load(), "only the owner resets the counter");
        COUNT.save(&0);
        Ok(())
    }
}
