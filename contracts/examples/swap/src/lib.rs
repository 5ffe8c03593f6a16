//! A constant-product market (Uniswap V2's rules) between two token
//! contracts (`contracts/examples/token`): liquidity providers deposit both
//! tokens for pool shares, traders swap one for the other against
//! `x * y = k` with a fee that stays in the pool.
//!
//! Every rounding favours the pool: shares minted round down, amounts a
//! provider must pay round up, amounts paid out round down. So `k` never
//! decreases, and no sequence of swaps and liquidity moves takes out more
//! than was put in. The first deposit locks 1,000 shares for good (to the
//! zero address) so the share price cannot be inflated from nothing.
//!
//! Tokens move with the token contracts' `transfer_from` (a provider or
//! trader first `approve`s this pool) and `transfer`. Reserves are this
//! contract's own count: tokens sent to it by plain transfers are ignored.
//!
//! Events: `Liquidity` [BLAKE3("Liquidity"), provider] with (a, b, shares,
//! added: bool); `Swap` [BLAKE3("Swap"), trader, token in] with (in, out);
//! `Fee` [BLAKE3("Fee")] with the new fee in basis points.

use cinder_sdk::math::{mul_div, mul_div_ceil, product_ge, sqrt_product};
use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const TOKEN_A: Item<Address> = Item::new(b"a");
const TOKEN_B: Item<Address> = Item::new(b"b");
const RESERVE_A: Item<u128> = Item::new(b"ra");
const RESERVE_B: Item<u128> = Item::new(b"rb");
const SHARES: Map<Address, u128> = Map::new(b"lp/");
const TOTAL_SHARES: Item<u128> = Item::new(b"lps");
const FEE_BPS: Item<u32> = Item::new(b"fee");
const ADMIN: Item<Address> = Item::new(b"admin");

/// Shares locked by the first deposit.
const MINIMUM_LIQUIDITY: u128 = 1_000;
/// The highest fee: 10 %.
const MAX_FEE_BPS: u32 = 1_000;
const BPS: u128 = 10_000;

fn pull(token: &Address, from: Address, amount: u128) -> Result<()> {
    env::call(token, "transfer_from", &encode(&(from, env::self_address(), amount)), 0, 0)?;
    Ok(())
}

fn push(token: &Address, to: Address, amount: u128) -> Result<()> {
    env::call(token, "transfer", &encode(&(to, amount)), 0, 0)?;
    Ok(())
}

fn tokens() -> Result<(Address, Address)> {
    Ok((TOKEN_A.load().ok_or("the pool has no tokens")?, TOKEN_B.load().ok_or("the pool has no tokens")?))
}

/// What `amount_in` of the reserve `r_in` buys of `r_out` after the fee.
fn amount_out(amount_in: u128, r_in: u128, r_out: u128, fee_bps: u32) -> Result<u128> {
    ensure!(r_in > 0 && r_out > 0, "the pool is empty");
    let keep = BPS - u128::from(fee_bps);
    let in_with_fee = amount_in.checked_mul(keep).ok_or("the amount is too large")?;
    let denominator = r_in.checked_mul(BPS).and_then(|d| d.checked_add(in_with_fee)).ok_or("the amount is too large")?;
    Ok(mul_div(in_with_fee, r_out, denominator).ok_or("the amount is too large")?)
}

fn set_shares(who: Address, n: u128) {
    if n == 0 {
        SHARES.remove(&who);
    } else {
        SHARES.set(&who, &n);
    }
}

contract! {
    /// A pool of `token_a` and `token_b` with a fee of `fee_bps` (at most
    /// 1,000 = 10 %) that `admin` may change (`None`: never).
    pub fn init(token_a: Address, token_b: Address, fee_bps: u32, admin: Option<Address>) -> Result<()> {
        ensure!(token_a != token_b, "the two tokens must differ");
        ensure!(fee_bps <= MAX_FEE_BPS, "the fee is at most 1,000 basis points");
        TOKEN_A.save(&token_a);
        TOKEN_B.save(&token_b);
        FEE_BPS.save(&fee_bps);
        if let Some(a) = admin {
            ADMIN.save(&a);
        }
        Ok(())
    }

    /// Deposits up to `max_a` and `max_b` at the pool's ratio (all of
    /// both on the first deposit) for at least `min_shares` new shares;
    /// returns (a taken, b taken, shares).
    pub fn add_liquidity(max_a: u128, max_b: u128, min_shares: u128) -> Result<(u128, u128, u128)> {
        let (ta, tb) = tokens()?;
        let (ra, rb, total) = (RESERVE_A.load_or(0), RESERVE_B.load_or(0), TOTAL_SHARES.load_or(0));
        let provider = env::caller();
        let (a, b, shares) = if total == 0 {
            ensure!(max_a > 0 && max_b > 0, "the first deposit needs both tokens");
            let root = sqrt_product(max_a, max_b);
            ensure!(root > MINIMUM_LIQUIDITY, "the first deposit is too small");
            TOTAL_SHARES.save(&MINIMUM_LIQUIDITY);
            set_shares(Address::default(), MINIMUM_LIQUIDITY);
            (max_a, max_b, root - MINIMUM_LIQUIDITY)
        } else {
            // Take all of one side and what the ratio asks of the other,
            // rounded up.
            let b_needed = mul_div_ceil(max_a, rb, ra).ok_or("the amount is too large")?;
            let (a, b) = if b_needed <= max_b {
                (max_a, b_needed)
            } else {
                (mul_div_ceil(max_b, ra, rb).ok_or("the amount is too large")?, max_b)
            };
            let by_a = mul_div(a, total, ra).ok_or("the amount is too large")?;
            let by_b = mul_div(b, total, rb).ok_or("the amount is too large")?;
            (a, b, by_a.min(by_b))
        };
        ensure!(a <= max_a && b <= max_b, "the pool's ratio needs more than offered");
        ensure!(shares > 0, "the deposit is too small for one share");
        ensure!(shares >= min_shares, "fewer shares than the minimum asked");
        pull(&ta, provider, a)?;
        pull(&tb, provider, b)?;
        RESERVE_A.save(&ra.checked_add(a).ok_or("the reserve overflows")?);
        RESERVE_B.save(&rb.checked_add(b).ok_or("the reserve overflows")?);
        let total = TOTAL_SHARES.load_or(0).checked_add(shares).ok_or("the shares overflow")?;
        TOTAL_SHARES.save(&total);
        set_shares(provider, SHARES.get_or(&provider, 0) + shares);
        env::emit(&[topic("Liquidity"), provider.0], &encode(&(a, b, shares, true)));
        Ok((a, b, shares))
    }

    /// Burns `shares` of the caller's for their part of both reserves
    /// (rounded down), at least `min_a` and `min_b`; returns (a, b).
    pub fn remove_liquidity(shares: u128, min_a: u128, min_b: u128) -> Result<(u128, u128)> {
        let (ta, tb) = tokens()?;
        let provider = env::caller();
        let held = SHARES.get_or(&provider, 0);
        ensure!(shares > 0 && shares <= held, "not that many shares");
        let (ra, rb, total) = (RESERVE_A.load_or(0), RESERVE_B.load_or(0), TOTAL_SHARES.load_or(0));
        let a = mul_div(shares, ra, total).ok_or("the amount is too large")?;
        let b = mul_div(shares, rb, total).ok_or("the amount is too large")?;
        ensure!(a >= min_a && b >= min_b, "less out than the minimum asked");
        set_shares(provider, held - shares);
        TOTAL_SHARES.save(&(total - shares));
        RESERVE_A.save(&(ra - a));
        RESERVE_B.save(&(rb - b));
        push(&ta, provider, a)?;
        push(&tb, provider, b)?;
        env::emit(&[topic("Liquidity"), provider.0], &encode(&(a, b, shares, false)));
        Ok((a, b))
    }

    /// Sells `amount_in` of `token_in` (one of the pool's two) for at
    /// least `min_out` of the other; returns what was bought.
    pub fn swap(token_in: Address, amount_in: u128, min_out: u128) -> Result<u128> {
        let (ta, tb) = tokens()?;
        ensure!(token_in == ta || token_in == tb, "the pool does not hold this token");
        ensure!(amount_in > 0, "nothing to swap");
        let a_in = token_in == ta;
        let (r_in, r_out) = if a_in {
            (RESERVE_A.load_or(0), RESERVE_B.load_or(0))
        } else {
            (RESERVE_B.load_or(0), RESERVE_A.load_or(0))
        };
        let out = amount_out(amount_in, r_in, r_out, FEE_BPS.load_or(0))?;
        ensure!(out > 0, "the amount is too small to buy anything");
        ensure!(out >= min_out, "slippage: less out than the minimum asked");
        let new_in = r_in.checked_add(amount_in).ok_or("the reserve overflows")?;
        let new_out = r_out - out;
        // The invariant, checked exactly: k does not decrease.
        ensure!(product_ge(new_in, new_out, r_in, r_out), "the swap would lower k");
        let trader = env::caller();
        let token_out = if a_in { tb } else { ta };
        pull(&token_in, trader, amount_in)?;
        push(&token_out, trader, out)?;
        if a_in {
            RESERVE_A.save(&new_in);
            RESERVE_B.save(&new_out);
        } else {
            RESERVE_B.save(&new_in);
            RESERVE_A.save(&new_out);
        }
        env::emit(&[topic("Swap"), trader.0, token_in.0], &encode(&(amount_in, out)));
        Ok(out)
    }

    /// Sets the fee (the admin only: a DAO, say).
    pub fn set_fee(fee_bps: u32) -> Result<()> {
        ensure!(ADMIN.load() == Some(env::caller()), "only the pool's admin may set the fee");
        ensure!(fee_bps <= MAX_FEE_BPS, "the fee is at most 1,000 basis points");
        FEE_BPS.save(&fee_bps);
        env::emit(&[topic("Fee")], &encode(&fee_bps));
        Ok(())
    }

    /// What `amount_in` of `token_in` would buy now.
    pub fn quote(token_in: Address, amount_in: u128) -> Result<u128> {
        let (ta, tb) = tokens()?;
        ensure!(token_in == ta || token_in == tb, "the pool does not hold this token");
        let (r_in, r_out) = if token_in == ta {
            (RESERVE_A.load_or(0), RESERVE_B.load_or(0))
        } else {
            (RESERVE_B.load_or(0), RESERVE_A.load_or(0))
        };
        amount_out(amount_in, r_in, r_out, FEE_BPS.load_or(0))
    }

    /// (token a, token b, reserve a, reserve b, total shares, fee).
    pub fn pool() -> Result<(Address, Address, u128, u128, u128, u32)> {
        let (ta, tb) = tokens()?;
        Ok((ta, tb, RESERVE_A.load_or(0), RESERVE_B.load_or(0), TOTAL_SHARES.load_or(0), FEE_BPS.load_or(0)))
    }

    /// The shares `who` holds.
    pub fn shares_of(who: Address) -> Result<u128> {
        Ok(SHARES.get_or(&who, 0))
    }
}

