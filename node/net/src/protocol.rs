//! The wire: gossip topics, the sync request-response protocol and its
//! codec, with a size limit on everything read from a peer.
//!
//! Every message is the canonical borsh encoding (cinder-primitives'
//! codec), so collections are bounded before anything is allocated and a
//! malformed message is an error, never a panic.

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::{Block, Bounded, Hash, Header, Limited, SignedTransaction, decode, encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The sync protocol's name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/cinder/sync/1");
/// The most hashes in a locator.
pub const MAX_LOCATOR: usize = 64;
/// The most headers in one response.
pub const MAX_HEADERS: usize = 2048;
/// The most blocks asked for (and returned) at once.
pub const MAX_BODIES: usize = 256;
/// A server stops adding blocks to a bodies response past this many bytes
/// (it always sends at least one block).
pub const BODIES_SOFT_BYTES: usize = 16 << 20;
/// The most transactions in one gossiped batch.
pub const MAX_TX_BATCH: usize = 1024;
/// The largest request read from a peer.
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// The largest response read from a peer: a soft-capped bodies response
/// plus one block of the largest encodable size.
pub const MAX_RESPONSE_BYTES: usize = BODIES_SOFT_BYTES + Block::MAX_BYTES + (64 << 10);
/// The largest gossiped transaction batch.
pub const MAX_TX_BATCH_BYTES: usize = 4 << 20;

/// A node's chain as it tells its peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Status {
    /// The genesis block id (peers on another chain are dropped).
    pub genesis: Hash,
    /// The head's id.
    pub head: Hash,
    /// The head's height.
    pub height: u64,
    /// The head's cumulative weight (what fork choice compares).
    pub weight: u128,
}

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Request {
    /// "Here is my status; what is yours?"
    Status(Status),
    /// Canonical headers after the first locator hash on the server's
    /// canonical chain, oldest first, at most `max` (capped at
    /// [`MAX_HEADERS`]).
    Headers {
        /// Block ids, newest first (the requester's head, then back in
        /// growing steps to genesis).
        locator: Bounded<Hash, MAX_LOCATOR>,
        /// The most headers wanted.
        max: u32,
    },
    /// The blocks with these ids, in order, stopping at the first the
    /// server lacks or at [`BODIES_SOFT_BYTES`].
    Bodies(Bounded<Hash, MAX_BODIES>),
}

impl Limited for Request {
    const NAME: &'static str = "sync request";
    const MAX_BYTES: usize = MAX_REQUEST_BYTES;
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Response {
    /// The server's status.
    Status(Status),
    /// Headers, oldest first.
    Headers(Bounded<Header, MAX_HEADERS>),
    /// Blocks, in the order asked.
    Bodies(Bounded<Block, MAX_BODIES>),
}

impl Limited for Response {
    const NAME: &'static str = "sync response";
    const MAX_BYTES: usize = MAX_RESPONSE_BYTES;
}

/// Transactions gossiped together.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBatch(pub Bounded<SignedTransaction, MAX_TX_BATCH>);

impl Limited for TxBatch {
    const NAME: &'static str = "transaction batch";
    const MAX_BYTES: usize = MAX_TX_BATCH_BYTES;
}

/// The gossip topic names of the chain with `genesis`.
pub fn topics(genesis: &Hash) -> (String, String) {
    let tag = hex_prefix(genesis);
    (format!("/cinder/{tag}/blocks/1"), format!("/cinder/{tag}/txs/1"))
}

/// The consensus gossip topic of the chain with `genesis` (proof of stake:
/// proposals, votes and evidence).
pub fn consensus_topic(genesis: &Hash) -> String {
    format!("/cinder/{}/consensus/1", hex_prefix(genesis))
}

/// The Kademlia protocol name of the chain with `genesis` (so DHTs of
/// different chains never mix).
pub fn kad_protocol(genesis: &Hash) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/cinder/{}/kad/1", hex_prefix(genesis)))
        .unwrap_or(StreamProtocol::new("/cinder/kad/1"))
}

fn hex_prefix(genesis: &Hash) -> String {
    genesis.0[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The sync codec: one request and one response per stream, each the
/// borsh encoding read to the end of the stream under its size limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

async fn read_limited<T, R>(io: &mut R) -> io::Result<T>
where
    T: BorshDeserialize + Limited,
    R: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(T::MAX_BYTES as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > T::MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {} over its limit of {} bytes", T::NAME, T::MAX_BYTES),
        ));
    }
    decode(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_all<T, W>(io: &mut W, v: &T) -> io::Result<()>
where
    T: BorshSerialize,
    W: AsyncWrite + Unpin + Send,
{
    io.write_all(&encode(v)).await?;
    io.close().await
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Request) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, &req).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Response) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_oversized_lists_are_refused() {
        let locator = Bounded::new(vec![Hash([1; 32]), Hash([2; 32])]).unwrap();
        let r = Request::Headers { locator, max: 100 };
        assert_eq!(decode::<Request>(&encode(&r)).unwrap(), r);
        // A bodies request claiming more ids than allowed fails before
        // allocating: tag 2, then a u32 count over MAX_BODIES.
        let mut bytes = vec![2u8];
        bytes.extend_from_slice(&(u32::try_from(MAX_BODIES).unwrap() + 1).to_le_bytes());
        assert!(decode::<Request>(&bytes).is_err());
        assert!(decode::<Request>(&[9]).is_err());
        assert!(decode::<Request>(&[]).is_err());
    }

    /// The codec reads at most one byte past a message's limit, then
    /// refuses it (the service scores the sender down for an undecodable
    /// request); a message at the limit is read whole.
    #[test]
    fn the_codec_refuses_requests_and_responses_over_their_size_limit() {
        use libp2p::request_response::Codec as _;
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let proto = SYNC_PROTOCOL;
        let over = vec![0u8; MAX_REQUEST_BYTES + 1];
        let e = rt.block_on(SyncCodec.read_request(&proto, &mut futures::io::Cursor::new(&over))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("sync request over its limit of 65536 bytes"), "{e}");
        // Far over: the reader stops at the limit instead of buffering it all.
        let mut huge = futures::io::Cursor::new(vec![0u8; 8 * MAX_REQUEST_BYTES]);
        assert!(rt.block_on(SyncCodec.read_request(&proto, &mut huge)).is_err());
        assert_eq!(huge.position(), MAX_REQUEST_BYTES as u64 + 1);
        let mut big = futures::io::Cursor::new(vec![0u8; MAX_RESPONSE_BYTES + 1]);
        let e = rt.block_on(SyncCodec.read_response(&proto, &mut big)).unwrap_err();
        assert!(e.to_string().contains("sync response over its limit"), "{e}");
        // A valid request still decodes through the same path.
        let r = Request::Bodies(Bounded::new(vec![Hash([3; 32]); MAX_BODIES]).unwrap());
        let bytes = encode(&r);
        assert!(bytes.len() <= MAX_REQUEST_BYTES);
        assert_eq!(rt.block_on(SyncCodec.read_request(&proto, &mut futures::io::Cursor::new(&bytes))).unwrap(), r);
    }

    #[test]
    fn topics_differ_between_chains() {
        let (a, _) = topics(&Hash([1; 32]));
        let (b, _) = topics(&Hash([2; 32]));
        assert_ne!(a, b);
        assert!(a.starts_with("/cinder/0101010101010101/"));
        assert_eq!(kad_protocol(&Hash([1; 32])).as_ref(), "/cinder/0101010101010101/kad/1");
    }
}
