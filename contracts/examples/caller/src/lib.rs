//! A contract that calls others: forwarding to a counter, handling a
//! callee's failure without failing itself, and calling itself (a
//! reentrant chain, bounded by the chain's call-depth limit).

use cinder_sdk::{Address, CallError, Item, Result, contract, decode, encode, env};

const LAST: Item<u64> = Item::new(b"last");
const NOTES: Item<u32> = Item::new(b"notes");

contract! {
    /// Increments `counter` by `by` through its `increment`; returns the
    /// counter's new value, remembered here too.
    pub fn bump(counter: Address, by: u64) -> Result<u64> {
        let out = env::call(&counter, "increment", &encode(&(by,)), 0, 0)?;
        let n: u64 = decode(&out).ok_or("the counter returned something else than a u64")?;
        LAST.save(&n);
        Ok(n)
    }

    /// Writes a note here, then calls `method` of `target` with `args`.
    /// Whatever the callee does, this call succeeds and keeps its note;
    /// the callee's writes stay only if it succeeded. Returns the callee's
    /// status (0 success, 1 reverted, 2 out of gas, 3 trapped, 4 not
    /// callable) and its return data or message.
    pub fn try_call(target: Address, method: String, args: Vec<u8>, gas: u64) -> Result<(u8, Vec<u8>)> {
        NOTES.save(&(NOTES.load_or(0) + 1));
        Ok(match env::call(&target, &method, &args, 0, gas) {
            Ok(data) => (0, data),
            Err(CallError::Reverted(m)) => (1, m.into_bytes()),
            Err(CallError::OutOfGas) => (2, Vec::new()),
            Err(CallError::Trapped(t)) => (3, t.into_bytes()),
            Err(CallError::NotCallable(m)) => (4, m.into_bytes()),
        })
    }

    /// Calls itself `depth` times (each call writes its depth); returns
    /// `depth`. Past the chain's depth limit the innermost call fails and
    /// so, one after another, does each caller.
    pub fn recurse(depth: u32) -> Result<u32> {
        NOTES.save(&depth);
        if depth == 0 {
            return Ok(0);
        }
        let out = env::call(&env::self_address(), "recurse", &encode(&(depth - 1,)), 0, 0)?;
        let below: u32 = decode(&out).ok_or("bad return")?;
        Ok(below + 1)
    }

    /// The last counter value `bump` saw and the note count.
    pub fn last() -> Result<(u64, u32)> {
        Ok((LAST.load_or(0), NOTES.load_or(0)))
    }
}
