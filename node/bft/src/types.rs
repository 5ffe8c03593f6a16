//! The messages of the voting protocol.

/// A block height.
pub type Height = u64;
/// A round within a height (0 first).
pub type Round = u32;

/// A validator's position in its height's [`crate::ValidatorSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorIndex(pub u16);

impl ValidatorIndex {
    /// As an index into the set.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// The two voting steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// The first vote of a round.
    Prevote,
    /// The second, after a polka (> 2/3 prevotes for one value).
    Precommit,
}

/// A vote: for a value, or for nothing (`value: None`, "nil").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote<V> {
    /// Its height.
    pub height: Height,
    /// Its round.
    pub round: Round,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The value voted for; `None` is a nil vote.
    pub value: Option<V>,
    /// Who votes.
    pub validator: ValidatorIndex,
}

/// A proposal of `value` by the round's proposer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proposal<V> {
    /// Its height.
    pub height: Height,
    /// Its round.
    pub round: Round,
    /// The value (a block id).
    pub value: V,
    /// The round of the polka that justifies re-proposing a value, if any
    /// (the paper's `validRound`; `None` is its -1).
    pub pol_round: Option<Round>,
    /// Who proposes.
    pub proposer: ValidatorIndex,
}

/// What a validator sends.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Message<V> {
    /// A proposal.
    Proposal(Proposal<V>),
    /// A prevote or precommit.
    Vote(Vote<V>),
}

impl<V> Message<V> {
    /// The round it belongs to.
    pub fn round(&self) -> Round {
        match self {
            Message::Proposal(p) => p.round,
            Message::Vote(v) => v.round,
        }
    }
    /// Who sent it.
    pub fn sender(&self) -> ValidatorIndex {
        match self {
            Message::Proposal(p) => p.proposer,
            Message::Vote(v) => v.validator,
        }
    }
}

/// The three timeouts of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutKind {
    /// Waiting for the proposal.
    Propose,
    /// Waiting for prevotes to agree, after > 2/3 of any prevotes.
    Prevote,
    /// Waiting for precommits to agree, after > 2/3 of any precommits.
    Precommit,
}
