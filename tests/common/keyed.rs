//! Test fakes of the keyed supervisor's tests: a table that tests change and break, a worker
//! runner scripted per key, the error type, and an event recorder.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::result_large_err)]
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core, reason = "the tests run on std")]

use std::collections::{HashMap, VecDeque};
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use procession::table::{Cursor, Event, Table};
use procession::{Ctx, MultiError, Overrun, Phase, Runner, StopLevel, supervisor};

use crate::common::Log;

/// One failure in a keyed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    At(String),
    Table(&'static str),
    Overrun(StopLevel),
    Sup(supervisor::Error),
}

impl From<Overrun> for Fail {
    fn from(o: Overrun) -> Self {
        assert_eq!(o.phase, Phase::Stop);
        Self::Overrun(o.level)
    }
}

impl From<supervisor::Error> for Fail {
    fn from(e: supervisor::Error) -> Self {
        Self::Sup(e)
    }
}

/// The error type of the keyed tests.
pub type Error = MultiError<Fail, 8>;

/// The error of the test table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFail(pub &'static str);

impl From<TableFail> for Fail {
    fn from(e: TableFail) -> Self {
        Self::Table(e.0)
    }
}

impl From<TableFail> for Error {
    fn from(e: TableFail) -> Self {
        Self::from_error(Fail::from(e))
    }
}

pub fn at(name: impl Into<String>) -> Error {
    MultiError::from_error(Fail::At(name.into()))
}

pub fn fails(list: &[Fail]) -> Error {
    list.iter().cloned().collect()
}

/// Table edits: `None` removes the key.
type Edits = Vec<(u32, Option<u32>)>;

#[derive(Default, Debug)]
struct TblState {
    entries: Vec<(u32, u32)>,
    /// Every `get` fails.
    get_error: bool,
    /// `iter` fails.
    iter_error: bool,
    /// `next` fails at this position.
    next_error_at: Option<usize>,
    /// Each entry comes twice in a pass (the second with value + 1000).
    duplicates: bool,
    gets: usize,
    passes: usize,
    /// Runs when the cursor reaches this position (a table changing during a pass).
    during_pass: Option<(usize, Edits)>,
}

/// A table of `u32 → u32` that tests change and break, shared by clones.
#[derive(Clone, Default, Debug)]
pub struct Tbl(Arc<Mutex<TblState>>);

impl Tbl {
    pub fn new(entries: &[(u32, u32)]) -> Self {
        let t = Self::default();
        t.0.lock().unwrap().entries = entries.to_vec();
        t
    }

    pub fn insert(&self, key: u32, value: u32) {
        let mut s = self.0.lock().unwrap();
        match s.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = value,
            None => s.entries.push((key, value)),
        }
    }

    pub fn remove(&self, key: u32) {
        self.0.lock().unwrap().entries.retain(|(k, _)| *k != key);
    }

    pub fn set_get_error(&self, on: bool) {
        self.0.lock().unwrap().get_error = on;
    }

    pub fn set_iter_error(&self, on: bool) {
        self.0.lock().unwrap().iter_error = on;
    }

    pub fn set_next_error_at(&self, at: Option<usize>) {
        self.0.lock().unwrap().next_error_at = at;
    }

    pub fn set_duplicates(&self, on: bool) {
        self.0.lock().unwrap().duplicates = on;
    }

    /// When the cursor reaches `at`, apply `edits` (`None` removes the key).
    pub fn during_pass(&self, at: usize, edits: &[(u32, Option<u32>)]) {
        self.0.lock().unwrap().during_pass = Some((at, edits.to_vec()));
    }

    pub fn gets(&self) -> usize {
        self.0.lock().unwrap().gets
    }

    pub fn passes(&self) -> usize {
        self.0.lock().unwrap().passes
    }
}

pub struct TblCursor {
    tbl: Tbl,
    pos: usize,
    /// The duplicate of the last entry is due.
    dup: Option<(u32, u32)>,
}

impl Table<u32, u32> for Tbl {
    type Error = TableFail;
    type Cursor<'a> = TblCursor;

    async fn get(&self, _ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, TableFail> {
        let mut s = self.0.lock().unwrap();
        s.gets += 1;
        if s.get_error {
            return Err(TableFail("get"));
        }
        Ok(s.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v))
    }

    async fn iter(&self, _ctx: &Ctx<'_>) -> Result<TblCursor, TableFail> {
        let mut s = self.0.lock().unwrap();
        if s.iter_error {
            return Err(TableFail("iter"));
        }
        s.passes += 1;
        Ok(TblCursor { tbl: self.clone(), pos: 0, dup: None })
    }
}

impl Cursor<u32, u32> for TblCursor {
    type Error = TableFail;

    async fn next(&mut self, _ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, TableFail> {
        if let Some(d) = self.dup.take() {
            return Ok(Some(d));
        }
        let mut s = self.tbl.0.lock().unwrap();
        if s.next_error_at == Some(self.pos) {
            return Err(TableFail("next"));
        }
        if let Some((at, _)) = &s.during_pass
            && *at == self.pos
        {
            let (_, edits) = s.during_pass.take().unwrap();
            for (k, v) in edits {
                s.entries.retain(|(e, _)| *e != k);
                if let Some(v) = v {
                    s.entries.push((k, v));
                }
            }
        }
        let entry = s.entries.get(self.pos).copied();
        self.pos += 1;
        if s.duplicates
            && let Some((k, v)) = entry
        {
            self.dup = Some((k, v + 1000));
        }
        Ok(entry)
    }
}

/// A table that cannot fail ([`MapTable`](procession::table::MapTable),
/// [`StaticTable`](procession::table::StaticTable), by value or by reference) with the test
/// table's error type, so that the keyed tests run over the crate's adapters.
#[derive(Debug, Clone, Copy)]
pub struct Sure<T>(pub T);

pub struct SureCursor<C>(C);

fn never(e: core::convert::Infallible) -> TableFail {
    match e {}
}

impl<T: Table<u32, u32, Error = core::convert::Infallible>> Table<u32, u32> for Sure<T> {
    type Error = TableFail;
    type Cursor<'a>
        = SureCursor<T::Cursor<'a>>
    where
        Self: 'a;

    async fn get(&self, ctx: &Ctx<'_>, key: &u32) -> Result<Option<u32>, TableFail> {
        self.0.get(ctx, key).await.map_err(never)
    }

    async fn iter(&self, ctx: &Ctx<'_>) -> Result<Self::Cursor<'_>, TableFail> {
        self.0.iter(ctx).await.map(SureCursor).map_err(never)
    }
}

impl<C: Cursor<u32, u32, Error = core::convert::Infallible>> Cursor<u32, u32> for SureCursor<C> {
    type Error = TableFail;

    async fn next(&mut self, ctx: &Ctx<'_>) -> Result<Option<(u32, u32)>, TableFail> {
        self.0.next(ctx).await.map_err(never)
    }
}

/// The edited table of the keyed tests: a [`MapTable`](procession::table::MapTable) of up to
/// 16 keys.
pub type Map = procession::table::MapTable<u32, u32, 16>;

/// A [`Map`] holding `entries`.
pub fn map(entries: &[(u32, u32)]) -> Map {
    let m = Map::new();
    for &(k, v) in entries {
        m.insert(k, v).expect("room in the test map");
    }
    m
}

/// What the next start of a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Ready at once; stops when its callback returns (or its context is cancelled).
    Normal,
    /// Fails before it is ready.
    FailStart,
    /// Returns `Ok` without being ready.
    ExitEarly,
    /// Never ready; returns `Ok` once its context is cancelled.
    Hold,
    /// Never ready and ignores cancellation: only dropping it ends it.
    Deaf,
    /// Ready; after its callback returns it waits for its context to be cancelled (a stop
    /// that needs the forced level).
    SlowStop,
    /// Ready; after its callback returns it never returns (a stop that needs the hard level).
    DeafStop,
    /// Not ready until its context is cancelled; then ready, and returns what its callback
    /// returns (a start that becomes ready during its stop).
    ReadyOnCancel,
}

#[derive(Default)]
struct ScriptState {
    acts: HashMap<u32, VecDeque<Act>>,
    /// Each key's current crash switch.
    crash: HashMap<u32, Arc<Ctx<'static>>>,
    /// Keys currently running a process (no key ever twice at once).
    live: HashMap<u32, usize>,
    overlaps: usize,
    /// Every incarnation's start (`true`) and end (`false`), in order: the intervals.
    spans: Vec<(u32, bool)>,
}

/// What each key's next starts do, and the switch that crashes a running one.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<ScriptState>>);

impl core::fmt::Debug for Script {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Script")
    }
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next starts of `key` do `acts`, in order, then `Normal`.
    pub fn then(&self, key: u32, acts: &[Act]) -> &Self {
        self.0.lock().unwrap().acts.entry(key).or_default().extend(acts.iter().copied());
        self
    }

    fn next_act(&self, key: u32) -> Act {
        self.0.lock().unwrap().acts.get_mut(&key).and_then(VecDeque::pop_front).unwrap_or(Act::Normal)
    }

    /// Makes the running process of `key` fail with `crash KEY`.
    pub fn crash(&self, key: u32) {
        let ctx = self.0.lock().unwrap().crash.get(&key).cloned();
        ctx.expect("no process of this key runs").cancel();
    }

    fn arm(&self, key: u32) -> Arc<Ctx<'static>> {
        let ctx = Arc::new(Ctx::new());
        self.0.lock().unwrap().crash.insert(key, ctx.clone());
        ctx
    }

    fn enter(&self, key: u32) {
        let mut s = self.0.lock().unwrap();
        let n = s.live.entry(key).or_default();
        *n += 1;
        if *n > 1 {
            s.overlaps += 1;
        }
        s.spans.push((key, true));
    }

    fn leave(&self, key: u32) {
        let mut s = self.0.lock().unwrap();
        *s.live.entry(key).or_default() -= 1;
        s.spans.push((key, false));
    }

    /// Makes the running process of `key` fail, if one runs; returns whether one did.
    pub fn try_crash(&self, key: u32) -> bool {
        let s = self.0.lock().unwrap();
        let live = s.live.get(&key).is_some_and(|n| *n > 0);
        let ctx = s.crash.get(&key).cloned().filter(|_| live);
        drop(s);
        ctx.map(|c| c.cancel()).is_some()
    }

    /// How many processes of `key` run now.
    pub fn live(&self, key: u32) -> usize {
        self.0.lock().unwrap().live.get(&key).copied().unwrap_or(0)
    }

    /// The start (`true`) and end (`false`) of every incarnation so far, in order.
    pub fn spans(&self) -> Vec<(u32, bool)> {
        self.0.lock().unwrap().spans.clone()
    }

    /// How many times a key had two processes at once.
    pub fn overlaps(&self) -> usize {
        self.0.lock().unwrap().overlaps
    }
}

/// The runner of one incarnation of a key: logs `start K=V`, `ready K`, `stop K (CAUSE)`,
/// and does what the script says.
#[derive(Clone, Debug)]
pub struct Worker {
    pub key: u32,
    pub value: u32,
    pub script: Script,
    pub log: Log,
}

/// Leaves the live count when the run ends or is dropped.
struct Live<'s>(&'s Script, u32);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

impl Runner<Error> for Worker {
    async fn run<F>(&self, ctx: &Ctx<'_>, ready: F) -> Result<(), Error>
    where
        F: AsyncFnOnce(&Ctx<'_>) -> Result<(), Error>,
    {
        use futures::future::{Either, select};
        let k = self.key;
        self.script.enter(k);
        let _live = Live(&self.script, k);
        self.log.push(format!("start {k}={}", self.value));
        let cause = |ctx: &Ctx<'_>| ctx.cause().map(|c| format!(" ({c})")).unwrap_or_default();
        match self.script.next_act(k) {
            Act::FailStart => {
                self.log.push(format!("failed {k}"));
                return Err(at(format!("start {k}")));
            }
            Act::ExitEarly => {
                self.log.push(format!("exit {k}"));
                return Ok(());
            }
            Act::Hold => {
                ctx.cancelled().await;
                self.log.push(format!("cancelled {k}{}", cause(ctx)));
                return Ok(());
            }
            Act::Deaf => {
                self.log.push(format!("deaf {k}"));
                core::future::pending::<()>().await;
            }
            Act::ReadyOnCancel => {
                ctx.cancelled().await;
                self.log.push(format!("late ready {k}{}", cause(ctx)));
                let result = ready(ctx).await;
                self.log.push(format!("stop {k}"));
                return result;
            }
            act @ (Act::Normal | Act::SlowStop | Act::DeafStop) => {
                let crash = self.script.arm(k);
                self.log.push(format!("ready {k}"));
                let callback = core::pin::pin!(ready(ctx));
                let crashed = core::pin::pin!(crash.cancelled());
                match select(callback, crashed).await {
                    Either::Right(_) => {
                        self.log.push(format!("crash {k}"));
                        return Err(at(format!("crash {k}")));
                    }
                    Either::Left((result, _)) => {
                        match act {
                            Act::SlowStop => {
                                ctx.cancelled().await;
                            }
                            Act::DeafStop => {
                                self.log.push(format!("deaf {k}"));
                                core::future::pending::<()>().await;
                            }
                            _ => {}
                        }
                        self.log.push(format!("stop {k}{}", cause(ctx)));
                        return result;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The builder of the tests: a [`Worker`] per incarnation.
pub fn workers(script: &Script, log: &Log) -> impl Fn(&u32, &u32) -> Worker + use<> {
    let (script, log) = (script.clone(), log.clone());
    move |key: &u32, value: &u32| Worker { key: *key, value: *value, script: script.clone(), log: log.clone() }
}

/// Records the events, as short strings.
#[derive(Clone, Default, Debug)]
pub struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observer(&self) -> impl Fn(&Event<'_, u32, Error>) + use<> {
        let events = self.clone();
        move |e: &Event<'_, u32, Error>| events.0.lock().unwrap().push(describe(e))
    }

    pub fn take(&self) -> Vec<String> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn has(&self, event: &str) -> bool {
        self.0.lock().unwrap().iter().any(|e| e == event)
    }
}

fn describe(e: &Event<'_, u32, Error>) -> String {
    match e {
        Event::Reserved { key } => format!("reserved {key}"),
        Event::Started { key, incarnation } => format!("started {key}#{incarnation}"),
        Event::Ready { key, incarnation } => format!("ready {key}#{incarnation}"),
        Event::Exited { key, incarnation, level, result, .. } => {
            format!("exited {key}#{incarnation} {level}{}", if result.is_err() { " err" } else { "" })
        }
        Event::BackingOff { key, delay } => format!("backoff {key} {}ms", delay.as_millis()),
        Event::Quarantined { key } => format!("quarantined {key}"),
        Event::Freed { key } => format!("freed {key}"),
        Event::NotInTable { key } => format!("not in table {key}"),
        Event::TableError { key, .. } => match key {
            Some(k) => format!("table error {k}"),
            None => "table error".to_string(),
        },
        Event::Full { key } => format!("full {key}"),
        Event::NotClaimed { key } => format!("not claimed {key}"),
        Event::ClaimLost { key } => format!("claim lost {key}"),
        Event::ClaimError { key, .. } => format!("claim error {key}"),
        Event::PassDone { seen, started, pruned, clean } => {
            format!("pass seen={seen} started={started} pruned={pruned} clean={clean}")
        }
        Event::Restored { ready, total, complete } => format!("restored {ready}/{total} complete={complete}"),
        Event::IntensityExceeded => "intensity exceeded".to_string(),
        Event::Late { key } => format!("late {key}"),
        _ => "other".to_string(),
    }
}
