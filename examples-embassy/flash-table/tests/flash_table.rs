//! `FlashTable` on a RAM flash: the table conformance suite, a reboot (the image mounted
//! again), and a power cut at every write boundary of an insert, a replace and a remove, on
//! maps at several fill levels (so that some writes move pages first).
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std test")]

extern crate std;

#[path = "../../../tests/common/table.rs"]
mod table_suite;

use std::collections::BTreeMap;
use std::vec::Vec;

use embassy_futures::block_on;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use procession::Ctx;
use procession::table::{Cursor, Table};
use procession_flash_table::{FlashFault, FlashTable, PAGE, RamFlash};
use table_suite::Harness;

const SIZE: usize = 4 * PAGE;
type Flash = RamFlash<SIZE>;
type SuiteTable = FlashTable<u32, u32, Flash, CriticalSectionRawMutex, 16>;
type Devices = FlashTable<u8, u32, Flash, CriticalSectionRawMutex, 16>;

fn range() -> core::ops::Range<u32> {
    0..SIZE as u32
}

// === the conformance suite ===

/// A pass holds the table, so this harness does not edit during a pass: the suite's checks of
/// edits are skipped (`writes_wait_for_a_pass` below covers them).
struct FlashHarness;

impl Harness for FlashHarness {
    type Subject = SuiteTable;
    type Error = procession_flash_table::Error<Flash>;
    const CONCURRENT_PASSES: bool = false;

    async fn build(&self, entries: &[(u32, u32)]) -> Self::Subject {
        let table = FlashTable::new(Flash::new(), range());
        for (k, v) in entries {
            table.insert(k, v).await.expect("insert");
        }
        table
    }
    async fn insert(&self, _: &Self::Subject, _: u32, _: u32) -> bool {
        false
    }
    async fn remove(&self, _: &Self::Subject, _: u32) -> bool {
        false
    }
}

table_conformance!(flash, FlashHarness);

/// A write during a pass waits for the pass to end, then happens.
#[test]
fn writes_wait_for_a_pass() {
    let table: Devices = FlashTable::new(Flash::new(), range());
    let ctx = Ctx::new();
    block_on(async {
        table.insert(&1, &10).await.unwrap();
        let mut pass = table.iter(&ctx).await.unwrap();
        let mut write = core::pin::pin!(table.insert(&2, &20));
        assert!(futures_poll_once(write.as_mut()).is_pending(), "a write ran inside a pass");
        assert_eq!(pass.next(&ctx).await.unwrap(), Some((1, 10)));
        assert_eq!(pass.next(&ctx).await.unwrap(), None);
        drop(pass);
        write.await.unwrap();
        assert_eq!(table.get(&ctx, &2).await.unwrap(), Some(20));
    });
}

fn futures_poll_once<F: core::future::Future>(f: core::pin::Pin<&mut F>) -> core::task::Poll<F::Output> {
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    f.poll(&mut cx)
}

// === reboot and power cut ===

/// What a freshly mounted table over `image` holds: a pass read last-wins, checked against
/// `get` of every key.
fn mount(image: [u8; SIZE]) -> Result<BTreeMap<u8, u32>, procession_flash_table::Error<Flash>> {
    let table: Devices = FlashTable::new(Flash::from_image(image), range());
    let ctx = Ctx::new();
    block_on(async {
        let mut pass = table.iter(&ctx).await?;
        let mut seen = BTreeMap::new();
        let mut steps = 0;
        while let Some((k, v)) = pass.next(&ctx).await? {
            seen.insert(k, v);
            steps += 1;
            assert!(steps < 10_000, "the pass does not end");
        }
        drop(pass);
        for key in 0..=u8::MAX {
            assert_eq!(table.get(&ctx, &key).await?, seen.get(&key).copied(), "get({key}) disagrees with the pass");
        }
        Ok(seen)
    })
}

/// Writes survive a reboot: a new table over the same image holds them.
#[test]
fn keys_survive_a_reboot() {
    let table: Devices = FlashTable::new(Flash::new(), range());
    block_on(async {
        table.insert(&1, &100).await.unwrap();
        table.insert(&2, &200).await.unwrap();
        table.insert(&1, &111).await.unwrap();
        table.insert(&3, &300).await.unwrap();
        table.remove(&3).await.unwrap();
    });
    let image = table.into_flash().image();
    assert_eq!(mount(image).unwrap(), BTreeMap::from([(1, 111), (2, 200)]));
    // A blank flash is an empty table, not an error.
    assert_eq!(mount([0xFF; SIZE]).unwrap(), BTreeMap::new());
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Insert(u8, u32),
    Remove(u8),
}

impl Op {
    fn apply(self, state: &mut BTreeMap<u8, u32>) {
        match self {
            Self::Insert(k, v) => {
                state.insert(k, v);
            }
            Self::Remove(k) => {
                state.remove(&k);
            }
        }
    }

    async fn run(self, table: &Devices) -> Result<(), procession_flash_table::Error<Flash>> {
        match self {
            Self::Insert(k, v) => table.insert(&k, &v).await,
            Self::Remove(k) => table.remove(&k).await,
        }
    }
}

/// Builds a map holding keys 1..=3 after `rewrites` extra writes of key 9 (which it then
/// removes), so the log is filled to different levels; returns its image and state.
fn prepared(rewrites: u32) -> ([u8; SIZE], BTreeMap<u8, u32>) {
    let table: Devices = FlashTable::new(Flash::new(), range());
    block_on(async {
        for n in 0..rewrites {
            table.insert(&9, &n).await.unwrap();
        }
        table.remove(&9).await.unwrap();
        for k in 1..=3u8 {
            table.insert(&k, &(u32::from(k) * 100)).await.unwrap();
        }
    });
    let image = table.into_flash().image();
    let state = mount(image).unwrap();
    assert_eq!(state, BTreeMap::from([(1, 100), (2, 200), (3, 300)]));
    (image, state)
}

/// Runs `op` on `image` with the power cut after `cut` operations; the image after it.
fn cut_run(image: [u8; SIZE], op: Op, cut: Option<usize>) -> (Result<(), procession_flash_table::Error<Flash>>, Flash) {
    let mut flash = Flash::from_image(image);
    flash.cut_after(cut);
    let table: Devices = FlashTable::new(flash, range());
    let result = block_on(op.run(&table));
    (result, table.into_flash())
}

/// For every write boundary of `op` (each word written, each page erased; more than one page
/// erase, too, when a fill level makes the map reclaim pages), cut the power there: the map mounts again with the old or the new state, never anything else, never a
/// panic, and takes a further write.
/// Returns how many pages the uncut run erased.
fn power_cut_everywhere(rewrites: u32, op: Op) -> usize {
    let (image, old) = prepared(rewrites);
    let mut new = old.clone();
    op.apply(&mut new);
    let (result, flash) = cut_run(image, op, None);
    result.expect("the uncut run");
    let total = flash.operations();
    assert!(total > 0);
    let erases = flash.erases();
    let mut saw_old = 0;
    let mut saw_new = 0;
    for cut in 0..=total {
        let (result, flash) = cut_run(image, op, Some(cut));
        match &result {
            Ok(()) => assert_eq!(cut, total, "finished with the power cut after {cut} of {total}"),
            Err(sequential_storage::Error::Storage { value: FlashFault::PowerCut, .. }) => {}
            Err(other) => panic!("cut after {cut} of {total}: {other:?}"),
        }
        let after = flash.image();
        let state =
            mount(after).unwrap_or_else(|e| panic!("cut after {cut} of {total} ({op:?}): does not load: {e:?}"));
        if state == old {
            saw_old += 1;
        } else if state == new {
            saw_new += 1;
        } else {
            panic!("cut after {cut} of {total} ({op:?}): {state:?} is neither {old:?} nor {new:?}");
        }
        // The map repairs itself and goes on.
        let table: Devices = FlashTable::new(Flash::from_image(after), range());
        block_on(table.insert(&7, &7)).unwrap_or_else(|e| panic!("cut after {cut}: no write after the reboot: {e:?}"));
        let mut expected = state;
        expected.insert(7, 7);
        assert_eq!(mount(table.into_flash().image()).unwrap(), expected);
    }
    assert!(saw_old > 0 && saw_new > 0, "old {saw_old}, new {saw_new}");
    erases
}

/// Fill levels (extra rewrites before the operation) at which `op` erases a page first (the
/// map reclaims its oldest page before it can write).
fn levels_with_a_page_move(op: Op) -> Vec<u32> {
    let levels: Vec<u32> = (0..400)
        .filter(|&rewrites| {
            let (image, _) = prepared(rewrites);
            let (result, flash) = cut_run(image, op, None);
            result.expect("uncut run");
            flash.erases() > 0
        })
        .take(2)
        .collect();
    assert!(!levels.is_empty(), "{op:?} never erased a page");
    levels
}

#[test]
fn power_cut_while_inserting() {
    let op = Op::Insert(4, 400);
    power_cut_everywhere(0, op);
    power_cut_everywhere(100, op);
    for level in levels_with_a_page_move(op) {
        assert!(power_cut_everywhere(level, op) > 0);
    }
}

#[test]
fn power_cut_while_replacing() {
    let op = Op::Insert(2, 222);
    power_cut_everywhere(0, op);
    for level in levels_with_a_page_move(op) {
        assert!(power_cut_everywhere(level, op) > 0);
    }
}

#[test]
fn power_cut_while_removing() {
    for rewrites in [0, 45, 100, 140] {
        power_cut_everywhere(rewrites, Op::Remove(2));
    }
}

/// Random damage is corruption or an old value, never a panic: flip bits in every word of a
/// map and mount it.
#[test]
fn damaged_flash_never_panics() {
    let (image, _) = prepared(20);
    let mut outcomes: Vec<bool> = Vec::new();
    for at in (0..SIZE).step_by(4) {
        let mut damaged = image;
        damaged[at] ^= 0x5A;
        outcomes.push(mount(damaged).is_ok());
    }
    assert!(outcomes.iter().any(|ok| *ok));
}
