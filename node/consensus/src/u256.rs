//! The little 256-bit arithmetic consensus needs: target scaling for the
//! retarget and chain work (2^256 / (target + 1)). Exact, no floats.

use cinder_engine::pow::Target;

/// An unsigned 256-bit integer, four little-endian 64-bit limbs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct U256 {
    // Most significant limb last (compare with `cmp_value`).
    limbs: [u64; 4],
}

impl U256 {
    pub(crate) const ZERO: U256 = U256 { limbs: [0; 4] };
    pub(crate) const MAX: U256 = U256 { limbs: [u64::MAX; 4] };

    pub(crate) fn from_target(t: &Target) -> U256 {
        let w = t.le_words();
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = u64::from(w[2 * i]) | (u64::from(w[2 * i + 1]) << 32);
        }
        U256 { limbs }
    }

    #[expect(clippy::cast_possible_truncation, reason = "splitting limbs into words")]
    pub(crate) fn to_target(self) -> Target {
        let mut w = [0u32; 8];
        for (i, l) in self.limbs.iter().enumerate() {
            w[2 * i] = *l as u32;
            w[2 * i + 1] = (*l >> 32) as u32;
        }
        Target::from_le_words(w)
    }

    #[expect(clippy::cast_possible_truncation, reason = "splitting into limbs")]
    pub(crate) fn from_u128(v: u128) -> U256 {
        U256 { limbs: [v as u64, (v >> 64) as u64, 0, 0] }
    }

    /// The value if it fits in 128 bits.
    pub(crate) fn to_u128(self) -> Option<u128> {
        (self.limbs[2] == 0 && self.limbs[3] == 0)
            .then(|| u128::from(self.limbs[0]) | (u128::from(self.limbs[1]) << 64))
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs == [0; 4]
    }

    pub(crate) fn cmp_value(&self, o: &U256) -> std::cmp::Ordering {
        self.limbs.iter().rev().cmp(o.limbs.iter().rev())
    }

    fn bit(&self, i: usize) -> bool {
        self.limbs[i / 64] >> (i % 64) & 1 == 1
    }

    pub(crate) fn bits(&self) -> usize {
        (0..256).rev().find(|&i| self.bit(i)).map_or(0, |i| i + 1)
    }

    pub(crate) fn shl(self, n: usize) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let (words, bits) = (n / 64, n % 64);
        let mut out = [0u64; 4];
        for i in (words..4).rev() {
            let lo = self.limbs[i - words];
            out[i] = lo << bits;
            if bits > 0 && i > words {
                out[i] |= self.limbs[i - words - 1] >> (64 - bits);
            }
        }
        U256 { limbs: out }
    }

    #[cfg(test)]
    pub(crate) fn shr(self, n: usize) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let (words, bits) = (n / 64, n % 64);
        let mut out = [0u64; 4];
        for (i, o) in out.iter_mut().enumerate().take(4 - words) {
            *o = self.limbs[i + words] >> bits;
            if bits > 0 && i + words + 1 < 4 {
                *o |= self.limbs[i + words + 1] << (64 - bits);
            }
        }
        U256 { limbs: out }
    }

    fn sub(self, o: U256) -> U256 {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, r) in out.iter_mut().enumerate() {
            let (d, b1) = self.limbs[i].overflowing_sub(o.limbs[i]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            *r = d;
            borrow = b1 || b2;
        }
        U256 { limbs: out }
    }

    pub(crate) fn add_one(self) -> Option<U256> {
        let mut out = self.limbs;
        for l in &mut out {
            let (s, c) = l.overflowing_add(1);
            *l = s;
            if !c {
                return Some(U256 { limbs: out });
            }
        }
        None
    }

    fn not(self) -> U256 {
        U256 { limbs: self.limbs.map(|l| !l) }
    }

    /// `self * m`, `None` if it overflows 256 bits.
    #[cfg(test)]
    #[expect(clippy::cast_possible_truncation, reason = "the low limb of a product")]
    pub(crate) fn mul_u64(self, m: u64) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (i, o) in out.iter_mut().enumerate() {
            let p = u128::from(self.limbs[i]) * u128::from(m) + carry;
            *o = p as u64;
            carry = p >> 64;
        }
        (carry == 0).then_some(U256 { limbs: out })
    }

    /// `self * m >> 16`, then shifted left by `shift` (right when negative),
    /// computed in 320 bits; `None` when the result needs more than 256.
    #[expect(clippy::cast_possible_truncation, reason = "limb arithmetic")]
    pub(crate) fn scale(self, m: u64, shift: i64) -> Option<U256> {
        let mut wide = [0u64; 5];
        let mut carry = 0u128;
        for (w, l) in wide.iter_mut().zip(self.limbs) {
            let p = u128::from(l) * u128::from(m) + carry;
            *w = p as u64;
            carry = p >> 64;
        }
        wide[4] = carry as u64;
        let total = shift - 16;
        let bit = |w: &[u64; 5], i: i64| -> bool { (0..320).contains(&i) && w[(i / 64) as usize] >> (i % 64) & 1 == 1 };
        let mut out = U256::ZERO;
        for i in 0..320i64 {
            if bit(&wide, i) {
                let j = i + total;
                if j >= 256 {
                    return None;
                }
                if j >= 0 {
                    out.limbs[(j / 64) as usize] |= 1 << (j % 64);
                }
            }
        }
        Some(out)
    }

    /// Quotient of `self / d` (d non-zero), by shift and subtract.
    pub(crate) fn div(self, d: U256) -> U256 {
        let mut q = U256::ZERO;
        let mut r = U256::ZERO;
        for i in (0..self.bits()).rev() {
            r = r.shl(1);
            if self.bit(i) {
                r.limbs[0] |= 1;
            }
            if r.cmp_value(&d).is_ge() {
                r = r.sub(d);
                q.limbs[i / 64] |= 1 << (i % 64);
            }
        }
        q
    }

    /// 2^256 / (self + 1), Bitcoin's work of a target: `~t / (t + 1) + 1`.
    pub(crate) fn work(self) -> U256 {
        match self.add_one() {
            // t = 2^256 - 1: one hash in 1 meets it.
            None => U256::from_u128(1),
            Some(d) => self.not().div(d).add_one().unwrap_or(U256::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u(v: u128) -> U256 {
        U256::from_u128(v)
    }

    #[test]
    fn shifts_and_bits() {
        assert_eq!(u(1).shl(200).shr(200), u(1));
        assert_eq!(u(1).shl(255).bits(), 256);
        assert_eq!(u(1).shl(256), U256::ZERO);
        assert_eq!(u(0b1011).shl(64).shr(65), u(0b101));
        assert_eq!(U256::ZERO.bits(), 0);
    }

    #[test]
    fn work_of_known_targets() {
        // Bitcoin's genesis target 0xffff * 2^208: work 0x100010001.
        let t = u(0xffff).shl(208);
        assert_eq!(t.work().to_u128(), Some(0x1_0001_0001));
        assert_eq!(U256::MAX.work().to_u128(), Some(1));
        // Half the space: 2 hashes per hit.
        assert_eq!(U256::MAX.shr(1).work().to_u128(), Some(2));
    }

    #[test]
    fn target_round_trip() {
        let t = Target::from_compact(0x1d00ffff).unwrap();
        assert_eq!(U256::from_target(&t).to_target(), t);
        assert_eq!(U256::from_target(&t), u(0xffff).shl(208));
    }

    proptest! {
        #[test]
        fn div_and_mul_match_u128(a in any::<u128>(), d in 1u128.., m in any::<u64>()) {
            prop_assert_eq!(u(a).div(u(d)).to_u128(), Some(a / d));
            let wide = u(a).mul_u64(m).unwrap();
            let lo = (a & u128::from(u64::MAX)) * u128::from(m);
            prop_assert_eq!(u128::from(wide.shr(0).limbs[0]), lo & u128::from(u64::MAX));
            prop_assert_eq!(u(a).shl(7).shr(7), u(a));
            prop_assert_eq!(u(a).scale(1 << 16, 0), Some(u(a)));
            prop_assert_eq!(u(a).scale(1 << 17, -1), Some(u(a)));
            prop_assert_eq!(u(a).scale(3 << 16, 3), u(a).mul_u64(3).unwrap().mul_u64(8));
        }
    }
}
