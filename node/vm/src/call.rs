//! Running contract code: a frame per call, nested calls that roll back
//! with their callee, and the loop that drives a run's fiber while
//! answering its reads from the block's executor.
//!
//! A run is one future: wasmtime executes the WebAssembly on a fiber, and
//! a host function that needs state leaves a [`Request`] and yields. The
//! executor's thread ([`drive`]) answers from its Block-STM view and polls
//! again, so the view never leaves that thread and no host function holds
//! a reference into the executor. A read the executor suspends is answered
//! [`Response::Suspended`]: the host function fails with
//! [`Stop::Suspended`], the WebAssembly unwinds, and the task returns the
//! executor's `Suspend` to run again later.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use cinder_engine::exec::{Suspend, TxView};
use cinder_primitives::{Address, ContractInfo, Event, Hash, decode};
use wasmtime::{AsContextMut, Caller, ExternType, Store, Trap};

use crate::host::{self, Chan, Frame, Host, Journal, Request, Response, Stop, lock, move_value, read_state};
use crate::limits::MAX_CALLS_PER_TX;
use crate::runtime::{Compiled, Inner};
use crate::state::{BlockEnv, StateKey, Val};

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Success,
    Reverted(String),
    OutOfGas,
    Trapped(String),
    NoMethod(String),
    Suspended,
    Internal(String),
}

/// Fixed names of traps (receipts are consensus: never wasmtime's text).
fn trap_name(t: Trap) -> &'static str {
    match t {
        Trap::StackOverflow => "stack overflow",
        Trap::MemoryOutOfBounds => "memory access out of bounds",
        Trap::HeapMisaligned => "misaligned memory access",
        Trap::TableOutOfBounds => "table access out of bounds",
        Trap::IndirectCallToNull => "indirect call to a null entry",
        Trap::BadSignature => "indirect call with the wrong signature",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer division by zero",
        Trap::BadConversionToInteger => "invalid conversion to integer",
        Trap::UnreachableCodeReached => "unreachable executed (a panic)",
        _ => "trap",
    }
}

/// What an error that ended a call means.
pub(crate) fn classify(e: &wasmtime::Error) -> Ending {
    if let Some(s) = e.downcast_ref::<Stop>() {
        return match s {
            Stop::Revert(m) => Ending::Reverted(m.clone()),
            Stop::OutOfGas => Ending::OutOfGas,
            Stop::Fault(m) => Ending::Trapped(m.clone()),
            Stop::NoMethod(m) => Ending::NoMethod(m.clone()),
            Stop::Suspended => Ending::Suspended,
            Stop::Internal(m) => Ending::Internal(m.clone()),
        };
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => Ending::OutOfGas,
            t => Ending::Trapped(trap_name(*t).to_string()),
        };
    }
    Ending::Internal(format!("{e:#}"))
}

fn stop(s: Stop) -> wasmtime::Error {
    wasmtime::Error::new(s)
}

/// Whether `method` is a method of the module: an exported function with
/// no parameters and no results.
fn is_method(c: &Compiled, method: &str) -> bool {
    matches!(c.pre.module().get_export(method), Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0)
}

/// Runs `method` in a new instance of `compiled` for the frame on top of
/// the stack. `Ok(false)`: an optional method the module does not have.
async fn enter(
    mut cx: impl AsContextMut<Data = Host> + Send,
    compiled: &Compiled,
    method: &str,
    optional: bool,
) -> wasmtime::Result<bool> {
    if !is_method(compiled, method) {
        return if optional { Ok(false) } else { Err(stop(Stop::NoMethod(method.to_string()))) };
    }
    {
        let mut c = cx.as_context_mut();
        let h = c.data_mut();
        h.instances += 1;
        if h.instances > MAX_CALLS_PER_TX {
            return Err(stop(Stop::Fault(format!("more than {MAX_CALLS_PER_TX} contract calls in one transaction"))));
        }
    }
    let instance = compiled.pre.instantiate_async(&mut cx).await?;
    let memory = instance
        .get_memory(&mut cx, "memory")
        .ok_or_else(|| stop(Stop::Internal("a validated module has no memory".into())))?;
    match cx.as_context_mut().data_mut().frames.last_mut() {
        Some(f) => f.memory = Some(memory),
        None => return Err(stop(Stop::Internal("no frame for the call".into()))),
    }
    let func = instance.get_typed_func::<(), ()>(&mut cx, method)?;
    func.call_async(&mut cx, ()).await?;
    Ok(true)
}

/// The compiled code with hash `hash`: from the cache, or read from state
/// (a cached module needs no read: code under a hash never changes).
pub(crate) async fn load_code(
    cx: &mut (impl AsContextMut<Data = Host> + Send),
    hash: Hash,
) -> wasmtime::Result<Arc<Compiled>> {
    let vm = cx.as_context_mut().data().vm.clone();
    if let Some(c) = vm.cached(&hash) {
        return Ok(c);
    }
    let code = match read_state(cx, &StateKey::Code(hash)).await? {
        Some(Val::Bytes(b)) => b,
        other => return Err(stop(Stop::Internal(format!("the code {hash} of a contract is {other:?}")))),
    };
    vm.compile(hash, &code).map_err(|e| stop(Stop::Internal(format!("stored code {hash} does not validate: {e}"))))
}

/// A contract's record, if there is a contract at `a`.
pub(crate) async fn contract_info(
    cx: &mut (impl AsContextMut<Data = Host> + Send),
    a: Address,
) -> wasmtime::Result<Option<ContractInfo>> {
    match read_state(cx, &StateKey::Contract(a)).await? {
        None => Ok(None),
        Some(Val::Bytes(b)) => decode::<ContractInfo>(&b)
            .map(Some)
            .map_err(|e| stop(Stop::Internal(format!("the record of contract {a} does not decode: {e}")))),
        Some(v) => Err(stop(Stop::Internal(format!("the record of contract {a} is {v:?}")))),
    }
}

/// A call from a contract to another (the `call` host function): the
/// callee's status (0 success, 1 reverted, 2 out of gas, 3 trapped, 4 not
/// callable) and its return data or message. A failed callee's writes,
/// value and events are undone; the caller goes on.
pub(crate) async fn nested(
    c: &mut Caller<'_, Host>,
    contract: Address,
    method: &str,
    args: Vec<u8>,
    value: u128,
    gas: u64,
) -> wasmtime::Result<(i32, Vec<u8>)> {
    if !host::may_nest(c.data()) {
        return Ok((3, format!("the call depth limit of {} is reached", crate::limits::MAX_CALL_DEPTH).into_bytes()));
    }
    if method == "init" || method == "migrate" {
        return Ok((4, b"`init` and `migrate` are not callable".to_vec()));
    }
    let Some(info) = contract_info(c, contract).await? else {
        return Ok((4, format!("no contract at {contract}").into_bytes()));
    };
    let compiled = load_code(c, info.code_hash).await?;
    let me =
        c.data().frames.last().map(|f| f.contract).ok_or_else(|| stop(Stop::Internal("no caller frame".into())))?;
    let (mark, events) = (c.data().journal.mark(), c.data().events.len());
    if !move_value(c, me, contract, value).await? {
        return Ok((4, b"the caller's balance cannot pay the call's value".to_vec()));
    }
    // The callee gets at most all but 1/64 of what is left, so the caller
    // can always go on after it.
    let before = c.get_fuel()?;
    let cap = before - before / 64;
    let give = if gas == 0 { cap } else { gas.min(cap) };
    c.set_fuel(give)?;
    c.data_mut().frames.push(Frame { contract, caller: me, value, input: args, output: Vec::new(), memory: None });
    let r = enter(&mut *c, &compiled, method, false).await;
    let left = c.get_fuel()?;
    c.set_fuel(before - give + left)?;
    let frame = c.data_mut().frames.pop().ok_or_else(|| stop(Stop::Internal("the callee's frame is gone".into())))?;
    let ending = match r {
        Ok(_) => return Ok((0, frame.output)),
        Err(e) => classify(&e),
    };
    let h = c.data_mut();
    h.journal.rollback(mark);
    h.events.truncate(events);
    Ok(match ending {
        Ending::Suspended => return Err(stop(Stop::Suspended)),
        Ending::Internal(m) => return Err(stop(Stop::Internal(m))),
        Ending::Success => (0, frame.output),
        Ending::Reverted(m) => (1, m.into_bytes()),
        Ending::OutOfGas => (2, Vec::new()),
        Ending::Trapped(t) => (3, t.into_bytes()),
        Ending::NoMethod(m) => (4, format!("the contract has no method `{m}`").into_bytes()),
    })
}

/// Polls `fut` to the end, answering its reads from `view`. `Err` if a
/// read was suspended (the run unwound; run the transaction again later).
fn drive<F: Future>(fut: F, chan: &Mutex<Chan>, view: &mut dyn TxView<StateKey, Val>) -> Result<F::Output, Suspend> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let mut suspended = None;
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                return match suspended {
                    Some(s) => Err(s),
                    None => Ok(out),
                };
            }
            Poll::Pending => {
                let request = lock(chan).request.take();
                let response = match request {
                    _ if suspended.is_some() => Response::Suspended,
                    Some(Request::Read(k)) => match view.read(&k) {
                        Ok(v) => Response::Value(v),
                        Err(s) => {
                            suspended = Some(s);
                            Response::Suspended
                        }
                    },
                    Some(Request::Range { start, end, limit }) => match view.range(&start, &end, limit) {
                        Ok(e) => Response::Entries(e),
                        Err(s) => {
                            suspended = Some(s);
                            Response::Suspended
                        }
                    },
                    // Nothing asked (cannot happen: only `Answer` yields).
                    // Answering `Suspended` unwinds the run; the caller
                    // sees an internal error.
                    None => Response::Suspended,
                };
                lock(chan).response = Some(response);
            }
        }
    }
}

/// What the top-level call runs.
pub(crate) struct Top<'a> {
    /// The contract whose frame it is.
    pub(crate) contract: Address,
    /// Its caller (the transaction's sender).
    pub(crate) caller: Address,
    /// The value moved with it (already in the journal).
    pub(crate) value: u128,
    /// The method's input.
    pub(crate) input: Vec<u8>,
    /// The method.
    pub(crate) method: &'a str,
    /// Whether a missing method is fine (a deploy's `init`).
    pub(crate) optional: bool,
    /// The code: compiled already, or the hash to load.
    pub(crate) code: Code,
}

/// Code of a run.
pub(crate) enum Code {
    Compiled(Arc<Compiled>),
    Hash(Hash),
}

/// A finished run.
pub(crate) struct Run {
    pub(crate) ending: Ending,
    pub(crate) fuel_used: u64,
    pub(crate) journal: Journal,
    pub(crate) output: Vec<u8>,
    pub(crate) events: Vec<Event>,
}

/// Runs a top-level call with `fuel`, on top of the transaction's
/// `journal` so far, answering reads from `view`.
pub(crate) fn run(
    vm: &Arc<Inner>,
    env: BlockEnv,
    journal: Journal,
    fuel: u64,
    top: Top<'_>,
    view: &mut dyn TxView<StateKey, Val>,
) -> Result<Run, Suspend> {
    let _permit = vm.permit();
    let mut store = Store::new(&vm.engine, Host::new(vm.clone(), env, top.caller, journal));
    store.limiter(|h| &mut h.limits);
    let chan = store.data().chan.clone();
    let frame = Frame {
        contract: top.contract,
        caller: top.caller,
        value: top.value,
        input: top.input,
        output: Vec::new(),
        memory: None,
    };
    let (method, optional) = (top.method, top.optional);
    let result = drive(
        async {
            store.set_fuel(fuel)?;
            let compiled = match top.code {
                Code::Compiled(c) => c,
                Code::Hash(h) => load_code(&mut store, h).await?,
            };
            store.data_mut().frames.push(frame);
            enter(&mut store, &compiled, method, optional).await
        },
        &chan,
        view,
    )?;
    let ending = match &result {
        Ok(_) => Ending::Success,
        Err(e) => classify(e),
    };
    let left = store.get_fuel().unwrap_or(0);
    let host = store.into_data();
    let output = host.frames.into_iter().next().map(|f| f.output).unwrap_or_default();
    Ok(Run { ending, fuel_used: fuel.saturating_sub(left), journal: host.journal, output, events: host.events })
}
