//! The denomination rules of fungible token transfer (ICS-20).
//!
//! A token that leaves its home chain over channel `c` of the receiving
//! chain becomes the voucher `transfer/channel-c/<denom>` there: the path
//! records every hop, so a voucher can only go home the way it came. The
//! sending chain is the source of a denomination over a channel unless the
//! denomination starts with that channel's prefix (it came in through it):
//! a source escrows, a sink burns. On receipt the mirror rule: a
//! denomination carrying the *sending* channel's prefix is going home
//! (strip the prefix, release escrow), any other is minted as a voucher
//! under the receiving channel's prefix.

use cinder_primitives::{MAX_DENOM_BYTES, NATIVE_DENOM};

/// The prefix a token gets when it arrives over channel `channel`.
pub fn prefix(channel: u64) -> String {
    format!("transfer/channel-{channel}/")
}

/// Whether `denom` is well formed: `transfer/channel-N/` hops (N without
/// leading zeros) before a base denomination of 1 to 64 characters of
/// `a-z`, `0-9`, `.`, `-`; at most [`MAX_DENOM_BYTES`] in all.
pub fn validate(denom: &str) -> Result<(), String> {
    if denom.len() > MAX_DENOM_BYTES {
        return Err(format!("a denomination is at most {MAX_DENOM_BYTES} bytes (got {})", denom.len()));
    }
    let mut rest = denom;
    while let Some(after) = rest.strip_prefix("transfer/channel-") {
        let Some((n, tail)) = after.split_once('/') else {
            return Err(format!("denomination {denom:?}: a hop without a base denomination"));
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
            return Err(format!("denomination {denom:?}: channel-{n} is not a channel number"));
        }
        if n.parse::<u64>().is_err() {
            return Err(format!("denomination {denom:?}: channel-{n} is out of range"));
        }
        rest = tail;
    }
    let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(ok) {
        return Err(format!("denomination {denom:?}: the base denomination must be 1 to 64 of a-z 0-9 . -"));
    }
    Ok(())
}

/// The base denomination (the last path segment).
pub fn base(denom: &str) -> &str {
    denom.rsplit('/').next().unwrap_or(denom)
}

/// What sending `denom` over `channel` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// This chain is the source: the tokens are escrowed on the channel
    /// (the native token in the escrow account, a voucher in the channel's
    /// escrow record).
    Escrow,
    /// The token came in over this channel: the vouchers are burned.
    Burn,
}

/// ICS-20's `senderChainIsSource`.
pub fn on_send(channel: u64, denom: &str) -> Send {
    if denom.starts_with(&prefix(channel)) { Send::Burn } else { Send::Escrow }
}

/// What receiving `denom` from counterparty channel `source` on channel
/// `dest` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receive {
    /// The token comes home: release this much of the (unprefixed)
    /// denomination from `dest`'s escrow.
    Unescrow(String),
    /// A foreign token: mint vouchers of this (prefixed) denomination.
    Mint(String),
}

/// ICS-20's `receiverChainIsSource`, and the denomination that results.
pub fn on_receive(source: u64, dest: u64, denom: &str) -> Receive {
    match denom.strip_prefix(&prefix(source)) {
        Some(home) => Receive::Unescrow(home.to_string()),
        None => Receive::Mint(format!("{}{denom}", prefix(dest))),
    }
}

/// Whether `denom` is this chain's own token.
pub fn is_native(denom: &str) -> bool {
    denom == NATIVE_DENOM
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn denominations() {
        for ok in ["cin", "transfer/channel-0/cin", "transfer/channel-12/transfer/channel-3/atom.x-1"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "CIN",
            "transfer/channel-/cin",
            "transfer/channel-01/cin",
            "transfer/channel-0/",
            "transfer/channel-0",
            "a/b",
            "transfer/channel-99999999999999999999/cin",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&"a".repeat(65)).is_err());
        assert_eq!(base("transfer/channel-2/cin"), "cin");
        assert_eq!(on_send(2, "cin"), Send::Escrow);
        assert_eq!(on_send(2, "transfer/channel-2/cin"), Send::Burn);
        assert_eq!(on_send(2, "transfer/channel-20/cin"), Send::Escrow);
        assert_eq!(on_receive(0, 5, "cin"), Receive::Mint("transfer/channel-5/cin".into()));
        assert_eq!(on_receive(5, 0, "transfer/channel-5/cin"), Receive::Unescrow("cin".into()));
    }

    /// A hop: the sending chain's channel and the receiving chain's.
    fn route() -> impl Strategy<Value = Vec<(u64, u64)>> {
        prop::collection::vec((0u64..5, 0u64..5), 1..6)
    }

    proptest! {
        /// A token sent along any route of channels and back along the
        /// same channels in reverse is burned on the way back exactly
        /// where it was minted, and arrives home as the denomination it
        /// left as; every denomination on the way is well formed and
        /// records the hops.
        #[test]
        fn there_and_back_again(route in route()) {
            let mut denom = "cin".to_string();
            let mut path = vec![denom.clone()];
            for &(src, dst) in &route {
                // Out: the sender is the source unless the token came in
                // over `src` (it cannot have: each hop is a new chain).
                let receive = on_receive(src, dst, &denom);
                let Receive::Mint(next) = receive else {
                    // Going back where it came from is the return leg; this
                    // route revisits a channel pair: not what we test.
                    return Ok(());
                };
                prop_assert_eq!(on_send(src, &denom), Send::Escrow);
                prop_assert!(next.starts_with(&prefix(dst)));
                prop_assert_eq!(base(&next), "cin");
                if next.len() <= MAX_DENOM_BYTES {
                    prop_assert_eq!(validate(&next), Ok(()));
                }
                denom = next;
                path.push(denom.clone());
            }
            for &(src, dst) in route.iter().rev() {
                // Back: the chain that holds the voucher sends it over
                // `dst`, the channel it came in through: a burn; the
                // receiver (whose channel is `src`) releases escrow.
                prop_assert_eq!(on_send(dst, &denom), Send::Burn);
                let Receive::Unescrow(home) = on_receive(dst, src, &denom) else {
                    return Err(TestCaseError::fail("a returning voucher was minted again"));
                };
                path.pop();
                prop_assert_eq!(Some(&home), path.last());
                denom = home;
            }
            prop_assert_eq!(denom, "cin");
        }
    }
}
