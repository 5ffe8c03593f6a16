//! The host side of ABI `cinder_v1`: what a contract's imports do.
//!
//! Every function charges its gas first ([`crate::limits::gas`]) and checks
//! every pointer and length against the caller's memory; a bad one, or a
//! limit passed, traps the call with a reason of ours ([`Stop::Fault`]).
//!
//! Reads of state go to the transaction's own writes first ([`Journal`]),
//! then to the block's executor: the fiber the contract runs on leaves a
//! [`Request`] and waits; the executor's thread answers it from its
//! Block-STM view and resumes the fiber (see [`crate::call`]). A read the
//! executor must suspend ends the whole run with [`Stop::Suspended`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use cinder_engine::exec::{Visit, WriteOp, merge_written};
use cinder_primitives::{
    Address, Bounded, BoundedBytes, Event, Hash, MAX_EVENT_DATA, MAX_EVENTS, MAX_METHOD_BYTES, MAX_RETURN_BYTES,
    MAX_TOPICS,
};
use sha2::Digest;
use wasmtime::{AsContextMut, Caller, ExternType, Linker, Memory, StoreLimits, ValType};

use crate::limits::{self, ABI_MODULE, MAX_CALL_DEPTH, MAX_KEY_BYTES, MAX_SCAN_ENTRIES, MAX_VALUE_BYTES, gas};
use crate::runtime::Inner;
use crate::state::{BlockEnv, StateKey, Val};

/// Why a run stopped early, raised by a host function (or the call
/// machinery) as the error that unwinds the WebAssembly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Stop {
    /// The contract reverted with this message.
    #[error("reverted: {0}")]
    Revert(String),
    /// A host function's gas could not be paid.
    #[error("out of gas")]
    OutOfGas,
    /// The contract broke a rule of the ABI (a bad pointer, a limit).
    #[error("{0}")]
    Fault(String),
    /// The called method does not exist (or is not a method).
    #[error("the contract has no method `{0}`")]
    NoMethod(String),
    /// The block's executor must run this transaction again later: not
    /// the contract's doing.
    #[error("suspended by the executor")]
    Suspended,
    /// Something went wrong in this node (not deterministic): the block's
    /// execution is abandoned, never recorded as the transaction's fault.
    #[error("internal: {0}")]
    Internal(String),
}

/// A read the contract's fiber waits for.
#[derive(Debug)]
pub(crate) enum Request {
    /// One key.
    Read(StateKey),
    /// The keys in `start..=end`, at most `limit`.
    Range { start: StateKey, end: StateKey, limit: usize },
}

/// The executor's answer.
#[derive(Debug)]
pub(crate) enum Response {
    Value(Option<Val>),
    Entries(Vec<(StateKey, Val)>),
    Suspended,
}

/// The mailbox between a contract's fiber and the executor's thread.
#[derive(Debug, Default)]
pub(crate) struct Chan {
    pub(crate) request: Option<Request>,
    pub(crate) response: Option<Response>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ready once the executor has answered.
struct Answer(Arc<Mutex<Chan>>);

impl Future for Answer {
    type Output = Response;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Response> {
        match lock(&self.0).response.take() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// Asks the executor; the fiber waits until it answers.
async fn ask(chan: Arc<Mutex<Chan>>, request: Request) -> Result<Response, Stop> {
    lock(&chan).request = Some(request);
    match Answer(chan).await {
        Response::Suspended => Err(Stop::Suspended),
        r => Ok(r),
    }
}

/// A pending write of the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Put(Val),
    Delete,
    /// An addition to a counter not read (a credit).
    Delta(i128),
}

/// The transaction's writes so far, with an undo log so a failed nested
/// call rolls back exactly its own.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    map: HashMap<StateKey, Entry>,
    undo: Vec<(StateKey, Option<Entry>)>,
}

impl Journal {
    pub(crate) fn get(&self, k: &StateKey) -> Option<&Entry> {
        self.map.get(k)
    }
    pub(crate) fn set(&mut self, k: StateKey, e: Entry) {
        let prev = self.map.insert(k.clone(), e);
        self.undo.push((k, prev));
    }
    /// Adds `amount` to counter `k` without reading it.
    pub(crate) fn credit(&mut self, k: StateKey, amount: u128) -> Result<(), Stop> {
        if amount == 0 {
            return Ok(());
        }
        let e = match self.map.get(&k) {
            Some(Entry::Put(Val::Num(n))) => {
                Entry::Put(Val::Num(n.checked_add(amount).ok_or_else(|| Stop::Fault("a balance overflows".into()))?))
            }
            Some(Entry::Delta(d)) => Entry::Delta(
                i128::try_from(amount)
                    .ok()
                    .and_then(|a| d.checked_add(a))
                    .ok_or_else(|| Stop::Fault("a balance overflows".into()))?,
            ),
            Some(_) => return Err(Stop::Internal(format!("{k:?} is not a counter"))),
            None => Entry::Delta(i128::try_from(amount).map_err(|_| Stop::Fault("a balance overflows".into()))?),
        };
        self.set(k, e);
        Ok(())
    }
    pub(crate) fn mark(&self) -> usize {
        self.undo.len()
    }
    pub(crate) fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((k, prev)) = self.undo.pop() else { break };
            match prev {
                Some(e) => self.map.insert(k, e),
                None => self.map.remove(&k),
            };
        }
    }
    /// The keys written in `start..=end`, in order.
    fn keys_in(&self, start: &StateKey, end: &StateKey) -> Vec<StateKey> {
        let mut keys: Vec<StateKey> = self.map.keys().filter(|k| *k >= start && *k <= end).cloned().collect();
        keys.sort();
        keys
    }
    /// The writes for the executor.
    pub(crate) fn into_writes(self) -> Vec<(StateKey, WriteOp<Val>)> {
        let mut w: Vec<(StateKey, WriteOp<Val>)> = self
            .map
            .into_iter()
            .map(|(k, e)| {
                let op = match e {
                    Entry::Put(v) => WriteOp::Put(v),
                    Entry::Delete => WriteOp::Delete,
                    Entry::Delta(d) => WriteOp::Delta(d),
                };
                (k, op)
            })
            .collect();
        w.sort_by(|a, b| a.0.cmp(&b.0));
        w
    }
}

/// A contract call in progress.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) contract: Address,
    pub(crate) caller: Address,
    pub(crate) value: u128,
    pub(crate) input: Vec<u8>,
    pub(crate) output: Vec<u8>,
    pub(crate) memory: Option<Memory>,
}

/// The store's data: one transaction's run.
pub(crate) struct Host {
    pub(crate) vm: Arc<Inner>,
    pub(crate) env: BlockEnv,
    pub(crate) origin: Address,
    pub(crate) chan: Arc<Mutex<Chan>>,
    pub(crate) journal: Journal,
    pub(crate) frames: Vec<Frame>,
    /// What the last storage read, scan or call left for `result_read`.
    pub(crate) result: Vec<u8>,
    pub(crate) events: Vec<Event>,
    /// Instances created so far (at most [`limits::MAX_CALLS_PER_TX`]).
    pub(crate) instances: usize,
    pub(crate) limits: StoreLimits,
}

impl Host {
    pub(crate) fn new(vm: Arc<Inner>, env: BlockEnv, origin: Address, journal: Journal) -> Host {
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits::MAX_MEMORY_PAGES * 65_536).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(limits::MAX_TABLE_ELEMENTS).unwrap_or(usize::MAX))
            .instances(limits::MAX_CALLS_PER_TX)
            .memories(limits::MAX_CALLS_PER_TX)
            .tables(limits::MAX_CALLS_PER_TX)
            .build();
        Host {
            vm,
            env,
            origin,
            chan: Arc::new(Mutex::new(Chan::default())),
            journal,
            frames: Vec::new(),
            result: Vec::new(),
            events: Vec::new(),
            instances: 0,
            limits,
        }
    }

    fn frame(&self) -> Result<&Frame, Stop> {
        self.frames.last().ok_or_else(|| Stop::Internal("a host function ran outside a call".into()))
    }
}

type R<T> = wasmtime::Result<T>;

/// A length the contract sees (every length here is bounded by a limit far
/// below 2^31).
fn len32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn stop(s: Stop) -> wasmtime::Error {
    wasmtime::Error::new(s)
}

fn fault(msg: impl Into<String>) -> wasmtime::Error {
    stop(Stop::Fault(msg.into()))
}

/// Takes `amount` gas from what is left; out of gas if it is not there.
pub(crate) fn charge(cx: &mut impl AsContextMut<Data = Host>, amount: u64) -> R<()> {
    let mut cx = cx.as_context_mut();
    let left = cx.get_fuel()?;
    if left < amount {
        cx.set_fuel(0)?;
        return Err(stop(Stop::OutOfGas));
    }
    cx.set_fuel(left - amount)
}

fn memory(caller: &Caller<'_, Host>) -> R<Memory> {
    caller.data().frame().map_err(stop)?.memory.ok_or_else(|| stop(Stop::Internal("no memory in the frame".into())))
}

/// Bytes `ptr..ptr + len` of the contract's memory.
fn read_mem(caller: &mut Caller<'_, Host>, ptr: i32, len: i32, what: &str) -> R<Vec<u8>> {
    let mem = memory(caller)?;
    let data = mem.data(&*caller);
    let start = ptr as u32 as usize;
    let n = usize::try_from(len).map_err(|_| fault(format!("negative length for {what}")))?;
    let end = start.checked_add(n).filter(|e| *e <= data.len());
    match end {
        Some(end) => Ok(data[start..end].to_vec()),
        None => Err(fault(format!("{what}: bytes {start}..{start}+{n} are outside the memory"))),
    }
}

fn read_array<const N: usize>(caller: &mut Caller<'_, Host>, ptr: i32, what: &str) -> R<[u8; N]> {
    let v = read_mem(caller, ptr, len32(N), what)?;
    let mut a = [0u8; N];
    a.copy_from_slice(&v);
    Ok(a)
}

/// Writes `bytes` at `ptr` in the contract's memory.
fn write_mem(caller: &mut Caller<'_, Host>, ptr: i32, bytes: &[u8], what: &str) -> R<()> {
    let mem = memory(caller)?;
    let data = mem.data_mut(&mut *caller);
    let start = ptr as u32 as usize;
    match start.checked_add(bytes.len()).filter(|e| *e <= data.len()) {
        Some(end) => {
            data[start..end].copy_from_slice(bytes);
            Ok(())
        }
        None => Err(fault(format!("{what}: bytes {start}..{start}+{} are outside the memory", bytes.len()))),
    }
}

fn storage_key(caller: &mut Caller<'_, Host>, ptr: i32, len: i32) -> R<StateKey> {
    if usize::try_from(len).is_ok_and(|n| n > MAX_KEY_BYTES) {
        return Err(fault(format!("a storage key of {len} bytes, at most {MAX_KEY_BYTES}")));
    }
    let key = read_mem(caller, ptr, len, "storage key")?;
    let contract = caller.data().frame().map_err(stop)?.contract;
    Ok(StateKey::storage(contract, &key))
}

/// The value of `k` as this transaction sees it: its own writes, else the
/// block's executor.
pub(crate) async fn read_state(cx: &mut impl AsContextMut<Data = Host>, k: &StateKey) -> R<Option<Val>> {
    let (pending, chan) = {
        let h = cx.as_context_mut();
        let h = h.data();
        (h.journal.get(k).cloned(), h.chan.clone())
    };
    let fetch = |r: Response| match r {
        Response::Value(v) => Ok(v),
        other => Err(stop(Stop::Internal(format!("a read was answered with {other:?}")))),
    };
    match pending {
        Some(Entry::Put(v)) => Ok(Some(v)),
        Some(Entry::Delete) => Ok(None),
        Some(Entry::Delta(d)) => {
            let base = fetch(ask(chan, Request::Read(k.clone())).await.map_err(stop)?)?;
            let n = base.as_ref().map_or(Some(0), Val::num).ok_or_else(|| fault("a delta on bytes"))?;
            let r = if d >= 0 { n.checked_add(d.unsigned_abs()) } else { n.checked_sub(d.unsigned_abs()) };
            Ok(Some(Val::Num(r.ok_or_else(|| fault("a balance leaves its bounds"))?)))
        }
        None => fetch(ask(chan, Request::Read(k.clone())).await.map_err(stop)?),
    }
}

/// A balance as this transaction sees it.
pub(crate) async fn read_balance(cx: &mut impl AsContextMut<Data = Host>, a: Address) -> R<u128> {
    match read_state(cx, &StateKey::Balance(a)).await? {
        None => Ok(0),
        Some(Val::Num(n)) => Ok(n),
        Some(v) => Err(stop(Stop::Internal(format!("the balance of {a} is {v:?}")))),
    }
}

/// Moves `amount` from `from` (read) to `to` (credited); `false` if the
/// balance is short.
pub(crate) async fn move_value(
    cx: &mut impl AsContextMut<Data = Host>,
    from: Address,
    to: Address,
    amount: u128,
) -> R<bool> {
    if amount == 0 {
        return Ok(true);
    }
    let have = read_balance(cx, from).await?;
    if have < amount {
        return Ok(false);
    }
    let mut c = cx.as_context_mut();
    let j = &mut c.data_mut().journal;
    j.set(StateKey::Balance(from), Entry::Put(Val::Num(have - amount)));
    j.credit(StateKey::Balance(to), amount).map_err(stop)?;
    Ok(true)
}

/// The ABI: name, parameters, results (`true`: i64, `false`: i32).
const SIGNATURES: &[(&str, &[bool], &[bool])] = &[
    ("input_len", &[], &[false]),
    ("input_read", &[false], &[]),
    ("result_len", &[], &[false]),
    ("result_read", &[false], &[]),
    ("return_data", &[false, false], &[]),
    ("revert", &[false, false], &[]),
    ("storage_read", &[false, false], &[false]),
    ("storage_write", &[false, false, false, false], &[]),
    ("storage_remove", &[false, false], &[]),
    ("storage_scan", &[false, false, false, false, false], &[false]),
    ("caller", &[false], &[]),
    ("origin", &[false], &[]),
    ("self_address", &[false], &[]),
    ("value", &[false], &[]),
    ("block_height", &[], &[true]),
    ("block_time_ms", &[], &[true]),
    ("balance", &[false, false], &[]),
    ("transfer", &[false, false], &[false]),
    ("emit", &[false, false, false, false], &[]),
    ("call", &[false, false, false, false, false, false, true], &[false]),
    ("blake3", &[false, false, false], &[]),
    ("sha256", &[false, false, false], &[]),
    ("ed25519_verify", &[false, false, false, false], &[false]),
    ("merkle_verify", &[false, false, false, true, true, false, false], &[false]),
    ("groth16_verify", &[false, false, false, false, false, false], &[false]),
];

/// The names of the ABI's functions.
pub(crate) const NAMES: [&str; 25] = {
    let mut names = [""; 25];
    let mut i = 0;
    while i < SIGNATURES.len() {
        names[i] = SIGNATURES[i].0;
        i += 1;
    }
    names
};

/// Whether an import of `name` with type `ty` is the ABI's function.
pub(crate) fn signature_matches(name: &str, ty: &ExternType) -> bool {
    let Some((_, params, results)) = SIGNATURES.iter().find(|(n, _, _)| *n == name) else { return false };
    let ExternType::Func(f) = ty else { return false };
    let same = |got: &mut dyn ExactSizeIterator<Item = ValType>, want: &[bool]| {
        got.len() == want.len()
            && got.zip(want).all(|(t, wide)| if *wide { matches!(t, ValType::I64) } else { matches!(t, ValType::I32) })
    };
    same(&mut f.params(), params) && same(&mut f.results(), results)
}

/// Defines every function of the ABI in `linker`.
pub(crate) fn register(linker: &mut Linker<Host>) -> R<()> {
    let m = ABI_MODULE;

    linker.func_wrap(m, "input_len", |mut c: Caller<'_, Host>| -> R<i32> {
        charge(&mut c, gas::HOST_CALL)?;
        Ok(len32(c.data().frame().map_err(stop)?.input.len()))
    })?;
    linker.func_wrap(m, "input_read", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        let input = c.data().frame().map_err(stop)?.input.clone();
        charge(&mut c, gas::HOST_CALL + gas::COPY_BYTE * input.len() as u64)?;
        write_mem(&mut c, ptr, &input, "input_read")
    })?;
    linker.func_wrap(m, "result_len", |mut c: Caller<'_, Host>| -> R<i32> {
        charge(&mut c, gas::HOST_CALL)?;
        Ok(len32(c.data().result.len()))
    })?;
    linker.func_wrap(m, "result_read", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        let result = std::mem::take(&mut c.data_mut().result);
        charge(&mut c, gas::HOST_CALL + gas::COPY_BYTE * result.len() as u64)?;
        let r = write_mem(&mut c, ptr, &result, "result_read");
        c.data_mut().result = result;
        r
    })?;
    linker.func_wrap(m, "return_data", |mut c: Caller<'_, Host>, ptr: i32, len: i32| -> R<()> {
        if usize::try_from(len).is_ok_and(|n| n > MAX_RETURN_BYTES) {
            return Err(fault(format!("return data of {len} bytes, at most {MAX_RETURN_BYTES}")));
        }
        charge(&mut c, gas::HOST_CALL + gas::COPY_BYTE * u64::from(len.max(0) as u32))?;
        let data = read_mem(&mut c, ptr, len, "return_data")?;
        match c.data_mut().frames.last_mut() {
            Some(f) => f.output = data,
            None => return Err(stop(Stop::Internal("return_data outside a call".into()))),
        }
        Ok(())
    })?;
    linker.func_wrap(m, "revert", |mut c: Caller<'_, Host>, ptr: i32, len: i32| -> R<()> {
        charge(&mut c, gas::HOST_CALL)?;
        // Only the first 256 bytes are kept (the receipt's limit).
        let keep = len.clamp(0, 256);
        let msg = read_mem(&mut c, ptr, keep, "revert")?;
        Err(stop(Stop::Revert(String::from_utf8_lossy(&msg).into_owned())))
    })?;

    linker.func_wrap_async(m, "storage_read", |mut c: Caller<'_, Host>, (ptr, len): (i32, i32)| {
        Box::new(async move {
            charge(&mut c, gas::HOST_CALL + gas::STORAGE_READ)?;
            let k = storage_key(&mut c, ptr, len)?;
            let v = read_state(&mut c, &k).await?;
            let value = match v {
                None => {
                    c.data_mut().result.clear();
                    return Ok(-1);
                }
                Some(Val::Bytes(b)) => b.to_vec(),
                Some(v) => return Err(stop(Stop::Internal(format!("storage holds {v:?}")))),
            };
            charge(&mut c, gas::STORAGE_READ_BYTE * (value.len() as u64 + u64::from(len as u32)))?;
            let n = len32(value.len());
            c.data_mut().result = value;
            Ok(n)
        })
    })?;
    linker.func_wrap(m, "storage_write", |mut c: Caller<'_, Host>, kp: i32, kl: i32, vp: i32, vl: i32| -> R<()> {
        if usize::try_from(vl).is_ok_and(|n| n > MAX_VALUE_BYTES) {
            return Err(fault(format!("a storage value of {vl} bytes, at most {MAX_VALUE_BYTES}")));
        }
        let bytes = u64::from(kl.max(0) as u32) + u64::from(vl.max(0) as u32);
        charge(&mut c, gas::HOST_CALL + gas::STORAGE_WRITE + gas::STORAGE_WRITE_BYTE * bytes)?;
        let k = storage_key(&mut c, kp, kl)?;
        let v = read_mem(&mut c, vp, vl, "storage value")?;
        c.data_mut().journal.set(k, Entry::Put(Val::from_bytes(&v)));
        Ok(())
    })?;
    linker.func_wrap(m, "storage_remove", |mut c: Caller<'_, Host>, kp: i32, kl: i32| -> R<()> {
        charge(&mut c, gas::HOST_CALL + gas::STORAGE_REMOVE)?;
        let k = storage_key(&mut c, kp, kl)?;
        c.data_mut().journal.set(k, Entry::Delete);
        Ok(())
    })?;
    linker.func_wrap_async(
        m,
        "storage_scan",
        |mut c: Caller<'_, Host>, (sp, sl, ep, el, limit): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                charge(&mut c, gas::HOST_CALL + gas::STORAGE_SCAN)?;
                let limit = usize::try_from(limit)
                    .ok()
                    .filter(|n| *n <= MAX_SCAN_ENTRIES)
                    .ok_or_else(|| fault(format!("a scan limit of {limit}: 0 to {MAX_SCAN_ENTRIES}")))?;
                let start = storage_key(&mut c, sp, sl)?;
                let end = storage_key(&mut c, ep, el)?;
                let entries = scan(&mut c, &start, &end, limit).await?;
                let mut out = Vec::new();
                for (k, v) in &entries {
                    let (StateKey::Storage(_, key), Val::Bytes(v)) = (k, v) else {
                        return Err(stop(Stop::Internal(format!("a scan returned {k:?} = {v:?}"))));
                    };
                    out.extend(u32_len(key.as_bytes().len()).to_le_bytes());
                    out.extend_from_slice(key.as_bytes());
                    out.extend(u32_len(v.len()).to_le_bytes());
                    out.extend_from_slice(v);
                }
                charge(&mut c, gas::SCAN_ENTRY * entries.len() as u64 + gas::STORAGE_READ_BYTE * out.len() as u64)?;
                c.data_mut().result = out;
                Ok(len32(entries.len()))
            })
        },
    )?;

    fn put_address(c: &mut Caller<'_, Host>, ptr: i32, a: Address, what: &str) -> R<()> {
        charge(c, gas::HOST_CALL)?;
        write_mem(c, ptr, &a.0, what)
    }
    linker.func_wrap(m, "caller", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        let a = c.data().frame().map_err(stop)?.caller;
        put_address(&mut c, ptr, a, "caller")
    })?;
    linker.func_wrap(m, "origin", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        let a = c.data().origin;
        put_address(&mut c, ptr, a, "origin")
    })?;
    linker.func_wrap(m, "self_address", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        let a = c.data().frame().map_err(stop)?.contract;
        put_address(&mut c, ptr, a, "self_address")
    })?;
    linker.func_wrap(m, "value", |mut c: Caller<'_, Host>, ptr: i32| -> R<()> {
        charge(&mut c, gas::HOST_CALL)?;
        let v = c.data().frame().map_err(stop)?.value;
        write_mem(&mut c, ptr, &v.to_le_bytes(), "value")
    })?;
    linker.func_wrap(m, "block_height", |mut c: Caller<'_, Host>| -> R<i64> {
        charge(&mut c, gas::HOST_CALL)?;
        Ok(c.data().env.height as i64)
    })?;
    linker.func_wrap(m, "block_time_ms", |mut c: Caller<'_, Host>| -> R<i64> {
        charge(&mut c, gas::HOST_CALL)?;
        Ok(c.data().env.time_ms as i64)
    })?;
    linker.func_wrap_async(m, "balance", |mut c: Caller<'_, Host>, (ap, out): (i32, i32)| {
        Box::new(async move {
            charge(&mut c, gas::HOST_CALL + gas::BALANCE)?;
            let a = Address(read_array::<32>(&mut c, ap, "balance address")?);
            let b = read_balance(&mut c, a).await?;
            write_mem(&mut c, out, &b.to_le_bytes(), "balance")
        })
    })?;
    linker.func_wrap_async(m, "transfer", |mut c: Caller<'_, Host>, (tp, ap): (i32, i32)| {
        Box::new(async move {
            charge(&mut c, gas::HOST_CALL + gas::TRANSFER)?;
            let to = Address(read_array::<32>(&mut c, tp, "transfer recipient")?);
            let amount = u128::from_le_bytes(read_array::<16>(&mut c, ap, "transfer amount")?);
            let me = c.data().frame().map_err(stop)?.contract;
            Ok(if move_value(&mut c, me, to, amount).await? { 0 } else { 1 })
        })
    })?;
    linker.func_wrap(m, "emit", |mut c: Caller<'_, Host>, tp: i32, tn: i32, dp: i32, dl: i32| -> R<()> {
        let topics_n = usize::try_from(tn).ok().filter(|n| *n <= MAX_TOPICS);
        let Some(topics_n) = topics_n else {
            return Err(fault(format!("an event with {tn} topics, at most {MAX_TOPICS}")));
        };
        if usize::try_from(dl).is_ok_and(|n| n > MAX_EVENT_DATA) {
            return Err(fault(format!("an event with {dl} bytes of data, at most {MAX_EVENT_DATA}")));
        }
        charge(
            &mut c,
            gas::HOST_CALL
                + gas::EMIT
                + gas::EMIT_TOPIC * topics_n as u64
                + gas::EMIT_BYTE * u64::from(dl.max(0) as u32),
        )?;
        if c.data().events.len() >= MAX_EVENTS {
            return Err(fault(format!("more than {MAX_EVENTS} events in one transaction")));
        }
        let raw = read_mem(&mut c, tp, len32(topics_n * 32), "event topics")?;
        let data = read_mem(&mut c, dp, dl, "event data")?;
        let topics: Vec<Hash> = raw
            .chunks_exact(32)
            .map(|t| {
                let mut h = [0u8; 32];
                h.copy_from_slice(t);
                Hash(h)
            })
            .collect();
        let contract = c.data().frame().map_err(stop)?.contract;
        let event = Event {
            contract,
            topics: Bounded::new(topics).map_err(|_| fault("too many topics"))?,
            data: BoundedBytes::new(data).map_err(|_| fault("too much event data"))?,
        };
        c.data_mut().events.push(event);
        Ok(())
    })?;
    linker.func_wrap_async(
        m,
        "call",
        |mut c: Caller<'_, Host>, (cp, mp, ml, ap, al, vp, gas_limit): (i32, i32, i32, i32, i32, i32, i64)| {
            Box::new(async move {
                charge(&mut c, gas::HOST_CALL + gas::CALL + gas::ARGS_BYTE * u64::from(al.max(0) as u32))?;
                if usize::try_from(ml).is_ok_and(|n| n > MAX_METHOD_BYTES) {
                    return Err(fault(format!("a method name of {ml} bytes, at most {MAX_METHOD_BYTES}")));
                }
                if usize::try_from(al).is_ok_and(|n| n > cinder_primitives::MAX_ARGS_BYTES) {
                    return Err(fault(format!(
                        "call arguments of {al} bytes, at most {}",
                        cinder_primitives::MAX_ARGS_BYTES
                    )));
                }
                let contract = Address(read_array::<32>(&mut c, cp, "call contract")?);
                let method = read_mem(&mut c, mp, ml, "call method")?;
                let args = read_mem(&mut c, ap, al, "call arguments")?;
                let value = u128::from_le_bytes(read_array::<16>(&mut c, vp, "call value")?);
                let method = String::from_utf8(method).map_err(|_| fault("a method name that is not UTF-8"))?;
                let (status, result) =
                    crate::call::nested(&mut c, contract, &method, args, value, gas_limit as u64).await?;
                c.data_mut().result = result;
                Ok(status)
            })
        },
    )?;
    linker.func_wrap(m, "blake3", |mut c: Caller<'_, Host>, ptr: i32, len: i32, out: i32| -> R<()> {
        charge(&mut c, gas::HOST_CALL + gas::BLAKE3 + gas::HASH_BYTE * u64::from(len.max(0) as u32))?;
        let data = read_mem(&mut c, ptr, len, "blake3 input")?;
        write_mem(&mut c, out, blake3::hash(&data).as_bytes(), "blake3 output")
    })?;
    linker.func_wrap(m, "sha256", |mut c: Caller<'_, Host>, ptr: i32, len: i32, out: i32| -> R<()> {
        charge(&mut c, gas::HOST_CALL + gas::SHA256 + 2 * gas::HASH_BYTE * u64::from(len.max(0) as u32))?;
        let data = read_mem(&mut c, ptr, len, "sha256 input")?;
        write_mem(&mut c, out, &sha2::Sha256::digest(&data), "sha256 output")
    })?;
    linker.func_wrap(m, "ed25519_verify", |mut c: Caller<'_, Host>, kp: i32, mp: i32, ml: i32, sp: i32| -> R<i32> {
        charge(&mut c, gas::HOST_CALL + gas::ED25519_VERIFY + gas::HASH_BYTE * u64::from(ml.max(0) as u32))?;
        let key = read_array::<32>(&mut c, kp, "ed25519 key")?;
        let msg = read_mem(&mut c, mp, ml, "ed25519 message")?;
        let sig = read_array::<64>(&mut c, sp, "ed25519 signature")?;
        Ok(i32::from(cinder_engine::sig::verify(&key, &msg, &sig).is_ok()))
    })?;
    linker.func_wrap(
        m,
        "merkle_verify",
        |mut c: Caller<'_, Host>, rp: i32, lp: i32, ll: i32, index: i64, count: i64, sp: i32, sn: i32| -> R<i32> {
            let siblings = u64::from(sn.max(0) as u32);
            charge(
                &mut c,
                gas::HOST_CALL
                    + gas::MERKLE_VERIFY
                    + gas::HASH_BYTE * u64::from(ll.max(0) as u32)
                    + gas::MERKLE_NODE * siblings.min(limits::MAX_MERKLE_DEPTH as u64 + 1),
            )?;
            if sn < 0 || sn as usize > limits::MAX_MERKLE_DEPTH {
                return Ok(-1);
            }
            let root = read_array::<32>(&mut c, rp, "merkle root")?;
            let leaf = read_mem(&mut c, lp, ll, "merkle leaf")?;
            let raw = read_mem(&mut c, sp, sn.saturating_mul(32), "merkle siblings")?;
            let siblings = raw.chunks_exact(32).map(|s| <[u8; 32]>::try_from(s).unwrap_or_default()).collect();
            Ok(match crate::zk::merkle_verify(&root, &leaf, index as u64, count as u64, siblings) {
                Some(ok) => i32::from(ok),
                None => -1,
            })
        },
    )?;
    linker.func_wrap(
        m,
        "groth16_verify",
        |mut c: Caller<'_, Host>, vp: i32, vl: i32, pp: i32, pl: i32, ip: i32, n: i32| -> R<i32> {
            let inputs = u64::from(n.max(0) as u32);
            let bytes = u64::from(vl.max(0) as u32) + u64::from(pl.max(0) as u32);
            charge(
                &mut c,
                gas::HOST_CALL
                    + gas::GROTH16_VERIFY
                    + gas::COPY_BYTE * bytes
                    + (gas::GROTH16_INPUT + 32 * gas::COPY_BYTE) * inputs.min(limits::MAX_GROTH16_INPUTS as u64 + 1),
            )?;
            if n < 0
                || n as usize > limits::MAX_GROTH16_INPUTS
                || vl as usize > limits::MAX_GROTH16_VK_BYTES
                || pl > 1024
            {
                return Ok(-1);
            }
            let vk = read_mem(&mut c, vp, vl, "groth16 key")?;
            let proof = read_mem(&mut c, pp, pl, "groth16 proof")?;
            let inputs = read_mem(&mut c, ip, n.saturating_mul(32), "groth16 inputs")?;
            Ok(crate::zk::groth16_verify(&vk, &proof, &inputs).code())
        },
    )?;
    Ok(())
}

/// The entries of `start..=end` as this transaction sees them: its own
/// writes over the block's state, the first `limit` present ones.
async fn scan(c: &mut Caller<'_, Host>, start: &StateKey, end: &StateKey, limit: usize) -> R<Vec<(StateKey, Val)>> {
    if limit == 0 || start > end {
        return Ok(Vec::new());
    }
    let (written, chan) = {
        let h = c.data();
        (h.journal.keys_in(start, end), h.chan.clone())
    };
    let request = Request::Range { start: start.clone(), end: end.clone(), limit: limit + written.len() };
    let base = match ask(chan, request).await.map_err(stop)? {
        Response::Entries(e) => e,
        other => return Err(stop(Stop::Internal(format!("a scan was answered with {other:?}")))),
    };
    let journal = &c.data().journal;
    merge_written(base, &written, limit, |k, visit| match visit {
        Visit::Base(v) => Ok(Some(v)),
        Visit::Written => match journal.get(k) {
            Some(Entry::Put(v)) => Ok(Some(v.clone())),
            Some(Entry::Delete) | None => Ok(None),
            Some(Entry::Delta(_)) => Err(stop(Stop::Internal("a delta on storage".into()))),
        },
    })
}

/// The depth a new call would run at.
pub(crate) fn depth(h: &Host) -> usize {
    h.frames.len()
}

/// Whether a call may go one level deeper.
pub(crate) fn may_nest(h: &Host) -> bool {
    depth(h) < MAX_CALL_DEPTH
}
