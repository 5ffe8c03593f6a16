//! Answers to sync requests, read from the chain (run on a blocking
//! thread: they read RocksDB).

use anyhow::{Context, Result};
use cinder_chain::Chain;
use cinder_primitives::{Block, Bounded, Hash, Header, encode};

use crate::protocol::{BODIES_SOFT_BYTES, MAX_HEADERS, MAX_LOCATOR, Request, Response, Status};

/// This node's status.
pub(crate) fn status(chain: &Chain) -> Result<Status> {
    let head = chain.head()?;
    Ok(Status { genesis: chain.genesis_id(), head: head.id, height: head.height, weight: head.weight })
}

/// The answer to `req`.
pub(crate) fn answer(chain: &Chain, req: &Request) -> Result<Response> {
    Ok(match req {
        Request::Status(_) => Response::Status(status(chain)?),
        Request::Headers { locator, max } => Response::Headers(headers(chain, locator, *max)?),
        Request::Bodies(ids) => Response::Bodies(bodies(chain, ids)?),
    })
}

/// Whether `id` is on the canonical chain, and at what height.
fn canonical_height(chain: &Chain, id: &Hash) -> Result<Option<u64>> {
    let db = chain.db();
    let Some(meta) = db.block_meta(id)? else { return Ok(None) };
    Ok(db.canonical(meta.height)?.filter(|(c, _)| c == id).map(|_| meta.height))
}

fn headers(chain: &Chain, locator: &[Hash], max: u32) -> Result<Bounded<Header, MAX_HEADERS>> {
    let mut from = None;
    for id in locator {
        if let Some(h) = canonical_height(chain, id)? {
            from = Some(h);
            break;
        }
    }
    let Some(from) = from else { return Ok(Bounded::default()) };
    let head = chain.head()?.height;
    let n = u64::from(max).min(MAX_HEADERS as u64);
    let db = chain.db();
    let mut out = Vec::new();
    for h in (from + 1..=head).take(usize::try_from(n).unwrap_or(MAX_HEADERS)) {
        // The head can move while we read; stop at the first gap.
        let Some((id, _)) = db.canonical(h)? else { break };
        let Some(header) = db.header(&id)? else { break };
        out.push(header);
    }
    Bounded::new(out).map_err(|_| anyhow::anyhow!("more headers than allowed"))
}

fn bodies(chain: &Chain, ids: &[Hash]) -> Result<Bounded<Block, { crate::protocol::MAX_BODIES }>> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for id in ids {
        let Some(b) = chain.db().block(id).with_context(|| format!("reading block {id}"))? else { break };
        bytes += encode(&b).len();
        out.push(b);
        if bytes >= BODIES_SOFT_BYTES {
            break;
        }
    }
    Bounded::new(out).map_err(|_| anyhow::anyhow!("more blocks than allowed"))
}

/// A locator for this node's canonical chain: the head, the 10 blocks
/// below it, then back in doubling steps, genesis last; `tip` (a header
/// already received from the sync peer) goes first.
pub(crate) fn locator(chain: &Chain, tip: Option<Hash>) -> Result<Bounded<Hash, MAX_LOCATOR>> {
    let mut out: Vec<Hash> = tip.into_iter().collect();
    let db = chain.db();
    let mut h = chain.head()?.height;
    let mut step = 1u64;
    while out.len() < MAX_LOCATOR - 1 {
        if let Some((id, _)) = db.canonical(h)? {
            out.push(id);
        }
        if h == 0 {
            break;
        }
        if out.len() >= 10 {
            step = step.saturating_mul(2);
        }
        h = h.saturating_sub(step);
    }
    let genesis = chain.genesis_id();
    if out.last() != Some(&genesis) {
        out.push(genesis);
    }
    Bounded::new(out).map_err(|_| anyhow::anyhow!("locator too long"))
}
