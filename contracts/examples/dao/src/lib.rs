//! A DAO governed by a token (`contracts/examples/token`): members deposit
//! the token here for voting power; anyone with power proposes a list of
//! calls to other contracts (spend from the treasury, change a pool's fee,
//! anything a contract exposes); members vote; a proposal that meets the
//! quorum and the threshold runs its calls, in order and all or nothing,
//! once its timelock has passed after the vote (the shape of cw3-flex with
//! cw4-stake and of OpenZeppelin's Governor with a timelock).
//!
//! **Snapshots.** Voting power on a proposal is the deposit the voter held
//! at the end of the block before the proposal was made: deposits keep a
//! history of checkpoints (height, amount), as ERC20Votes does. Tokens
//! moved (withdrawn and deposited by someone else) after a proposal do not
//! vote on it twice. The total deposited is checkpointed the same way, for
//! the quorum.
//!
//! **Treasury.** The DAO's own token balances and its native balance
//! (`fund` takes native value). A proposal spends tokens with a call to
//! the token's `transfer`, native coins with a call to this contract's
//! `pay`, which only the DAO itself may call.
//!
//! Events: `Proposed` [BLAKE3("Proposed"), id], `Voted` [BLAKE3("Voted"),
//! id, voter] with (support, power), `Executed` [BLAKE3("Executed"), id].

use cinder_sdk::math::product_ge;
use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const TOKEN: Item<Address> = Item::new(b"token");
/// (quorum bps, threshold bps, voting period, timelock).
const RULES: Item<(u32, u32, u64, u64)> = Item::new(b"rules");
/// Checkpoints per member: (member, index) -> (height, amount).
const CHECKPOINTS: Map<(Address, u64), (u64, u128)> = Map::new(b"cp/");
const CHECKPOINT_COUNT: Map<Address, u64> = Map::new(b"cpn/");
const NEXT_ID: Item<u64> = Item::new(b"next");
/// id -> (proposer, description, snapshot height, voting end height,
/// yes, no, abstain, executed).
const PROPOSALS: Map<u64, (Address, String, u64, u64, u128, u128, u128, bool)> = Map::new(b"p/");
/// id -> the calls: (contract, method, args, value).
const ACTIONS: Map<u64, Vec<(Address, String, Vec<u8>, u128)>> = Map::new(b"act/");
const VOTES: Map<(u64, Address), (u8, u128)> = Map::new(b"v/");

/// The total's checkpoints live under this key.
const TOTAL: Address = Address([0xff; 32]);
/// Most calls in one proposal.
const MAX_ACTIONS: usize = 16;
const BPS: u128 = 10_000;

/// Adds `delta` (signed by `add`) to `who`'s latest amount at this block.
fn checkpoint(who: Address, delta: u128, add: bool) -> Result<u128> {
    let height = env::block_height();
    let n = CHECKPOINT_COUNT.get_or(&who, 0);
    let last = if n == 0 { None } else { CHECKPOINTS.get(&(who, n - 1)) };
    let current = last.map(|(_, a)| a).unwrap_or(0);
    let next = if add {
        current.checked_add(delta).ok_or("the deposit overflows")?
    } else {
        ensure!(current >= delta, "not that much deposited");
        current - delta
    };
    match last {
        Some((h, _)) if h == height => CHECKPOINTS.set(&(who, n - 1), &(height, next)),
        _ => {
            CHECKPOINTS.set(&(who, n), &(height, next));
            CHECKPOINT_COUNT.set(&who, &(n + 1));
        }
    }
    Ok(next)
}

/// `who`'s amount at the end of block `height` (a binary search of the
/// checkpoints).
fn amount_at(who: Address, height: u64) -> u128 {
    let n = CHECKPOINT_COUNT.get_or(&who, 0);
    let (mut lo, mut hi) = (0u64, n);
    // The first checkpoint after `height` is at `lo` when the loop ends.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let h = CHECKPOINTS.get(&(who, mid)).map(|(h, _)| h).unwrap_or(u64::MAX);
        if h <= height {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo == 0 { 0 } else { CHECKPOINTS.get(&(who, lo - 1)).map(|(_, a)| a).unwrap_or(0) }
}

/// A proposal id as an event topic (little-endian, zero-padded).
fn id_topic(id: u64) -> [u8; 32] {
    let mut t = [0u8; 32];
    t[..8].copy_from_slice(&id.to_le_bytes());
    t
}

fn rules() -> Result<(u32, u32, u64, u64)> {
    Ok(RULES.load().ok_or("the DAO is not set up")?)
}

/// 0 voting, 1 passed (waiting for its timelock or executable), 2
/// rejected, 3 executed.
fn state_of(id: u64) -> Result<u8> {
    let (_, _, snapshot, end, yes, no, abstain, executed) = PROPOSALS.get(&id).ok_or("no such proposal")?;
    if executed {
        return Ok(3);
    }
    if env::block_height() <= end {
        return Ok(0);
    }
    let (quorum, threshold, _, _) = rules()?;
    let total = amount_at(TOTAL, snapshot);
    let turnout = yes + no + abstain;
    // Exact 256-bit comparisons: turnout / total >= quorum / 10,000 and
    // yes / (yes + no) > threshold / 10,000, for any supply.
    let quorum_met = product_ge(turnout, BPS, u128::from(quorum), total);
    let passed = quorum_met && yes > 0 && !product_ge(u128::from(threshold), yes + no, yes, BPS);
    Ok(if passed { 1 } else { 2 })
}

contract! {
    /// A DAO of `token` holders: a proposal passes with `quorum_bps` of
    /// the deposited power voting and more than `threshold_bps` of the yes
    /// and no votes for it; voting lasts `voting_period` blocks, then
    /// `timelock` blocks pass before it can run.
    pub fn init(token: Address, quorum_bps: u32, threshold_bps: u32, voting_period: u64, timelock: u64) -> Result<()> {
        ensure!(quorum_bps <= 10_000 && threshold_bps < 10_000, "quorum and threshold are basis points");
        ensure!(voting_period > 0, "voting needs at least one block");
        TOKEN.save(&token);
        RULES.save(&(quorum_bps, threshold_bps, voting_period, timelock));
        Ok(())
    }

    /// Deposits `amount` of the token (approved to this contract first)
    /// for voting power from the next block on; returns the new deposit.
    pub fn deposit(amount: u128) -> Result<u128> {
        ensure!(amount > 0, "nothing to deposit");
        let member = env::caller();
        let token = TOKEN.load().ok_or("the DAO is not set up")?;
        env::call(&token, "transfer_from", &encode(&(member, env::self_address(), amount)), 0, 0)?;
        checkpoint(TOTAL, amount, true)?;
        checkpoint(member, amount, true)
    }

    /// Takes `amount` of the caller's deposit back (votes already cast
    /// keep their weight: they were counted at the snapshot).
    pub fn withdraw(amount: u128) -> Result<u128> {
        ensure!(amount > 0, "nothing to withdraw");
        let member = env::caller();
        let left = checkpoint(member, amount, false)?;
        checkpoint(TOTAL, amount, false)?;
        let token = TOKEN.load().ok_or("the DAO is not set up")?;
        env::call(&token, "transfer", &encode(&(member, amount)), 0, 0)?;
        Ok(left)
    }

    /// Proposes `actions` (contract, method, encoded arguments, native
    /// value), at most 16; the proposer needs voting power. Returns its id.
    pub fn propose(description: String, actions: Vec<(Address, String, Vec<u8>, u128)>) -> Result<u64> {
        ensure!(description.len() <= 1024, "the description is at most 1 KiB");
        ensure!(actions.len() <= MAX_ACTIONS, "at most 16 calls a proposal");
        let (_, _, period, _) = rules()?;
        let proposer = env::caller();
        let height = env::block_height();
        let snapshot = height.checked_sub(1).ok_or("no block before this one")?;
        ensure!(amount_at(proposer, snapshot) > 0, "only members with voting power may propose");
        let id = NEXT_ID.load_or(0);
        NEXT_ID.save(&(id + 1));
        PROPOSALS.set(&id, &(proposer, description, snapshot, height + period, 0, 0, 0, false));
        ACTIONS.set(&id, &actions);
        env::emit(&[topic("Proposed"), id_topic(id)], &[]);
        Ok(id)
    }

    /// Votes on proposal `id`: 0 no, 1 yes, 2 abstain, with the caller's
    /// power at its snapshot; a second vote replaces the first.
    pub fn vote(id: u64, support: u8) -> Result<u128> {
        ensure!(support <= 2, "support is 0 (no), 1 (yes) or 2 (abstain)");
        let (proposer, description, snapshot, end, mut yes, mut no, mut abstain, executed) =
            PROPOSALS.get(&id).ok_or("no such proposal")?;
        ensure!(env::block_height() <= end, "voting has ended");
        let voter = env::caller();
        let power = amount_at(voter, snapshot);
        ensure!(power > 0, "no voting power at the proposal's snapshot");
        if let Some((old, p)) = VOTES.get(&(id, voter)) {
            match old {
                0 => no -= p,
                1 => yes -= p,
                _ => abstain -= p,
            }
        }
        match support {
            0 => no += power,
            1 => yes += power,
            _ => abstain += power,
        }
        VOTES.set(&(id, voter), &(support, power));
        PROPOSALS.set(&id, &(proposer, description, snapshot, end, yes, no, abstain, executed));
        env::emit(&[topic("Voted"), id_topic(id), voter.0], &encode(&(support, power)));
        Ok(power)
    }

    /// Runs a passed proposal's calls once its timelock has passed; any
    /// failing call undoes them all. Anyone may execute.
    pub fn execute(id: u64) -> Result<()> {
        ensure!(state_of(id)? == 1, "the proposal has not passed, or already ran");
        let (proposer, description, snapshot, end, yes, no, abstain, _) = PROPOSALS.get(&id).ok_or("no such proposal")?;
        let (_, _, _, timelock) = rules()?;
        ensure!(env::block_height() > end + timelock, "the timelock has not passed");
        PROPOSALS.set(&id, &(proposer, description, snapshot, end, yes, no, abstain, true));
        for (i, (contract, method, args, value)) in ACTIONS.get(&id).unwrap_or_default().into_iter().enumerate() {
            if let Err(e) = env::call(&contract, &method, &args, value, 0) {
                return Err(cinder_sdk::Error(format!("call {i} ({method}) failed: {:?}", e)));
            }
        }
        env::emit(&[topic("Executed"), id_topic(id)], &[]);
        Ok(())
    }

    /// Takes native value into the treasury.
    pub fn fund() -> Result<u128> {
        Ok(env::balance(&env::self_address()))
    }

    /// Pays `amount` native coins from the treasury to `to`: only the DAO
    /// itself (a proposal's call) may.
    pub fn pay(to: Address, amount: u128) -> Result<()> {
        ensure!(env::caller() == env::self_address(), "only a passed proposal may pay");
        ensure!(env::transfer(&to, amount), "the treasury is short");
        Ok(())
    }

    /// (proposer, description, snapshot, end, yes, no, abstain, state:
    /// 0 voting, 1 passed, 2 rejected, 3 executed).
    pub fn proposal(id: u64) -> Result<(Address, String, u64, u64, u128, u128, u128, u8)> {
        let (proposer, description, snapshot, end, yes, no, abstain, _) = PROPOSALS.get(&id).ok_or("no such proposal")?;
        Ok((proposer, description, snapshot, end, yes, no, abstain, state_of(id)?))
    }

    /// `who`'s deposit at the end of block `height` (its voting power on a
    /// proposal with that snapshot).
    pub fn power_at(who: Address, height: u64) -> Result<u128> {
        Ok(amount_at(who, height))
    }

    /// Everything deposited at the end of block `height`.
    pub fn total_at(height: u64) -> Result<u128> {
        Ok(amount_at(TOTAL, height))
    }
}
