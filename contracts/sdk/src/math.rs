//! Exact integer arithmetic past 128 bits, for prices, shares and pools:
//! `a * b / c` with the 256-bit product kept whole, and the integer square
//! root of a 256-bit product. Every function returns `None` instead of
//! overflowing or dividing by zero.

/// `a * b` as (high, low) 128-bit halves.
pub fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Middle column: the high half of p00 plus the low halves of p01, p10.
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// The 256-bit `(hi, lo)` divided by `d`, if the quotient fits 128 bits.
fn div_wide(hi: u128, lo: u128, d: u128) -> Option<(u128, u128)> {
    if d == 0 || hi >= d {
        return None;
    }
    // Long division, one bit at a time; the remainder stays below d.
    let (mut rem, mut q) = (hi, 0u128);
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some((q, rem))
}

/// `floor(a * b / c)`.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    let (hi, lo) = mul_wide(a, b);
    div_wide(hi, lo, c).map(|(q, _)| q)
}

/// `ceil(a * b / c)`.
pub fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    let (hi, lo) = mul_wide(a, b);
    let (q, r) = div_wide(hi, lo, c)?;
    if r == 0 { Some(q) } else { q.checked_add(1) }
}

/// `floor(sqrt(a * b))` (always fits 128 bits).
pub fn sqrt_product(a: u128, b: u128) -> u128 {
    let target = mul_wide(a, b);
    // The largest x with x * x <= a * b, bit by bit from the top.
    let mut x = 0u128;
    for i in (0..128).rev() {
        let candidate = x | (1u128 << i);
        if mul_wide(candidate, candidate) <= target {
            x = candidate;
        }
    }
    x
}

/// Whether `a * b >= c * d`, exactly.
pub fn product_ge(a: u128, b: u128, c: u128, d: u128) -> bool {
    mul_wide(a, b) >= mul_wide(c, d)
}
