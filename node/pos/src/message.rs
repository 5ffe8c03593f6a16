//! The consensus gossip message: what validators and followers exchange on
//! the consensus topic.

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_engine::sig::VerifyingKey;
use cinder_primitives::{Block, CONSENSUS_VERSION, DoubleVote, Limited, SignedProposal, SignedVote};

/// One consensus message.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ConsensusMessage {
    /// A signed proposal with the block it names.
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
        /// The proposed block (its id is `proposal.data.block`).
        block: Box<Block>,
    },
    /// A signed prevote or precommit.
    Vote(SignedVote),
    /// Proof that a validator signed two different votes.
    Evidence(Box<DoubleVote>),
    /// Votes re-sent while a height stalls (for peers that joined after
    /// they were first gossiped); `sent_ms` makes each bundle new to
    /// gossip's duplicate filter.
    Votes {
        /// When it was sent (ms since the Unix epoch).
        sent_ms: u64,
        /// The votes, at most [`MAX_VOTE_BUNDLE`].
        votes: Vec<SignedVote>,
    },
}

/// The most votes in one [`ConsensusMessage::Votes`].
pub const MAX_VOTE_BUNDLE: usize = 4_096;

impl Limited for ConsensusMessage {
    const NAME: &'static str = "consensus message";
    const MAX_BYTES: usize = Block::MAX_BYTES + 1024;
}

/// Why a relay does not forward a consensus message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unchecked {
    /// It breaks the rules (its sender is to blame).
    Invalid(String),
    /// This node knows no validator set for the height (it is behind, or
    /// the height is older than its state keeps): not judged.
    UnknownSet(u64),
}

impl ConsensusMessage {
    /// The height a message is about (a bundle: its first vote's).
    pub fn height(&self) -> u64 {
        match self {
            ConsensusMessage::Proposal { proposal, .. } => proposal.data.height,
            ConsensusMessage::Vote(v) => v.data.height,
            ConsensusMessage::Evidence(e) => e.first.data.height,
            ConsensusMessage::Votes { votes, .. } => votes.first().map_or(0, |v| v.data.height),
        }
    }

    /// [`ConsensusMessage::precheck`] against the set of each height the
    /// message is about (`keys_at`: the validators of a height, if known). A bundle may span two heights (a stalled height's votes and
    /// its parent's certificate).
    pub fn precheck_at(
        &self,
        chain_id: u64,
        keys_at: impl Fn(u64) -> Option<std::sync::Arc<cinder_consensus::Validators>>,
    ) -> Result<(), Unchecked> {
        match self {
            ConsensusMessage::Votes { sent_ms, votes } if !votes.is_empty() => {
                let mut heights: Vec<u64> = votes.iter().map(|v| v.data.height).collect();
                heights.sort_unstable();
                heights.dedup();
                if heights.len() > 2 {
                    return Err(Unchecked::Invalid(format!("a bundle of votes of {} heights", heights.len())));
                }
                for h in heights {
                    let keys = keys_at(h).ok_or(Unchecked::UnknownSet(h))?;
                    let part: Vec<SignedVote> = votes.iter().filter(|v| v.data.height == h).cloned().collect();
                    ConsensusMessage::Votes { sent_ms: *sent_ms, votes: part }
                        .precheck(chain_id, &keys.keys)
                        .map_err(Unchecked::Invalid)?;
                }
                Ok(())
            }
            other => {
                let h = other.height();
                let keys = keys_at(h).ok_or(Unchecked::UnknownSet(h))?;
                other.precheck(chain_id, &keys.keys).map_err(Unchecked::Invalid)
            }
        }
    }

    /// The checks a relay makes before forwarding: the chain, the version,
    /// the signer is in `keys` and the signature verifies (a proposal's
    /// block matches its id). What the message means for consensus is the
    /// driver's to judge.
    pub fn precheck(&self, chain_id: u64, keys: &[VerifyingKey]) -> Result<(), String> {
        let key = |i: u16| keys.get(usize::from(i)).ok_or_else(|| format!("validator {i} is not in the set"));
        match self {
            ConsensusMessage::Proposal { proposal, block } => {
                let d = &proposal.data;
                if d.chain_id != chain_id || d.version != CONSENSUS_VERSION {
                    return Err("a proposal of another chain or version".into());
                }
                if block.id() != d.block || block.header.height() != d.height {
                    return Err("the block does not match the proposal".into());
                }
                key(d.proposer)?
                    .verify(&d.signing_message(), &proposal.signature.0)
                    .map_err(|e| format!("proposal signature: {e}"))
            }
            ConsensusMessage::Vote(v) => {
                let d = &v.data;
                if d.chain_id != chain_id || d.version != CONSENSUS_VERSION {
                    return Err("a vote of another chain or version".into());
                }
                key(d.validator)?
                    .verify(&d.signing_message(), &v.signature.0)
                    .map_err(|e| format!("vote signature: {e}"))
            }
            ConsensusMessage::Evidence(e) => {
                if e.first.data.chain_id != chain_id {
                    return Err("evidence of another chain".into());
                }
                e.check(key(e.first.data.validator)?).map_err(|e| format!("evidence: {e}"))
            }
            ConsensusMessage::Votes { votes, .. } => {
                if votes.is_empty() || votes.len() > MAX_VOTE_BUNDLE {
                    return Err(format!("a bundle of {} votes", votes.len()));
                }
                if votes.iter().any(|v| v.data.chain_id != chain_id || v.data.version != CONSENSUS_VERSION) {
                    return Err("a vote of another chain or version".into());
                }
                let ok = cinder_primitives::verify_votes(votes, keys);
                match ok.iter().position(|ok| !ok) {
                    Some(i) => Err(format!("vote {i} of the bundle does not verify")),
                    None => Ok(()),
                }
            }
        }
    }
}
