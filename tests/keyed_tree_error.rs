//! A keyed supervisor's handle errors inside a callback that returns a tree error: `?` works
//! with no impl written (the user's own error comes out as it is, the supervisor's refusal as
//! `Kind::Keyed` without its key).

use futures::executor::block_on;
use procession::error::Kind;
use procession::runner::{Lifecycle, from_fn};
use procession::table::{Error, KeyedSupervisor, MapTable, Setup};
use procession::time::ManualClock;
use procession::{Ctx, TreeError};

/// A user's own error enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppError {
    Dead,
}

impl core::fmt::Display for AppError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("dead")
    }
}

type Tree = TreeError<AppError>;

/// Runs `body` as the callback of a driver over `table`, empty when the driver starts (so
/// that its first pass starts nothing).
fn with_supervisor(
    body: impl AsyncFnOnce(&KeyedSupervisor<u8, u8, Tree>, &MapTable<u8, u8>) -> Result<(), Tree>,
) -> Result<(), Tree> {
    let clock: ManualClock = ManualClock::new();
    let table: MapTable<u8, u8> = MapTable::new();
    let workers: KeyedSupervisor<u8, u8, Tree> = KeyedSupervisor::new();
    // A worker that is ready at once, unless its value is 0: then it fails before it is ready.
    let worker = |_key: &u8, value: &u8| {
        let value = *value;
        from_fn(async move |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Tree> {
            if value == 0 {
                return procession::error::fail(AppError::Dead);
            }
            lc.ready();
            lc.stop_requested().await;
            Ok(())
        })
    };
    let setup = Setup::new(&table, worker, &clock);
    let root = Ctx::new();
    block_on(workers.drive(&root, &setup, async |_ctx: &Ctx<'_>| body(&workers, &table).await))
}

#[test]
fn a_refusal_is_a_keyed_kind_without_its_key() {
    let result = with_supervisor(async |workers, table| {
        table.insert(1, 1).unwrap();
        workers.start(1).await?;
        workers.start(1).await?; // Exists
        unreachable!("the second start is refused");
    });
    let error = result.unwrap_err();
    assert_eq!(error.errors().len(), 1);
    assert_eq!(error.errors()[0].kind(), &Kind::Keyed(Error::Exists));
    assert_eq!(error.errors()[0].to_string(), "keyed supervisor: key exists");
}

#[test]
fn a_key_missing_from_the_table_is_a_keyed_kind() {
    let result = with_supervisor(async |workers, _table| workers.start(9).await.map_err(Tree::from));
    assert_eq!(result.unwrap_err().errors()[0].kind(), &Kind::Keyed(Error::NotInTable));
}

#[test]
fn a_start_failure_is_the_users_own_error_as_it_is() {
    let result = with_supervisor(async |workers, table| {
        table.insert(2, 0).unwrap();
        workers.start(2).await?;
        unreachable!("the start fails");
    });
    let error = result.unwrap_err();
    assert_eq!(error.errors()[0].own_error(), Some(&AppError::Dead));
}
