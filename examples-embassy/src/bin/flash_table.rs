//! A table of desired processes in flash, and a keyed supervisor that runs them again after a
//! reboot.
//!
//! The table maps a device id to its polling period, in a `sequential-storage` key map
//! (`FlashTable`) on a flash that is a file on the host (`HostFlash`, through semihosting), so
//! each qemu run is one boot of the same device. A `KeyedSupervisor` of four slots (no heap)
//! runs one process per key of that table: at boot its first pass over the flash starts one
//! process per stored device, and the firmware goes on once they are ready. Then it takes the
//! next step of a fixed story, editing the table and the running processes with it:
//!
//! 1. first boot, empty table, no process: it stores the modem, the sensor and the logger and
//!    starts a process for each;
//! 2. second boot: the processes of exactly those three start from the flash; it removes the
//!    sensor (its process stops) and adds the display (its process starts);
//! 3. third boot: the processes of the modem, the logger and the display start from the flash.
//!
//! At the end of each boot every process stops gracefully (all at once, each bounded by a
//! deadline; they are noted in the order of their slots, the display in the one the sensor
//! left). Any other table is an error (exit
//! status 1). `scripts/firmware` runs it three times over one flash file and compares each
//! boot's output with `expected/flash_table.boot<N>.txt`.

#![no_std]
#![no_main]

use core::cell::Cell;

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Timer;
use procession::error::Overrun;
use procession::runner::{Lifecycle, from_fn};
use procession::table::{KeyedSupervisor, Setup, State, Table};
use procession::time::EmbassyClock;
use procession::{Ctx, Merge, supervisor};
use procession_examples_embassy::host_flash::HostFlash;
use procession_examples_embassy::{Journal, exit, finish, start_time};
use procession_flash_table::{FlashTable, PAGE};

/// Four erase pages: the smallest map that can move a page while keeping the others.
const SIZE: usize = 4 * PAGE;

/// Device ids.
const MODEM: u8 = 1;
const SENSOR: u8 = 2;
const LOGGER: u8 = 3;
const DISPLAY: u8 = 4;

type Devices = FlashTable<u8, u32, HostFlash<SIZE>, NoopRawMutex, 16>;

/// What can go wrong in this firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
enum Fault {
    /// The flash table failed (the map's error is logged where it happens).
    Flash,
    /// A process was started with another period than the one stored for it.
    WrongPeriod,
    /// A stop passed its deadline.
    Overrun(Overrun),
    /// The supervisor itself failed.
    Supervisor(supervisor::Error),
}

impl From<procession_flash_table::Error<HostFlash<SIZE>>> for Fault {
    fn from(error: procession_flash_table::Error<HostFlash<SIZE>>) -> Self {
        defmt::error!("flash: {}", defmt::Debug2Format(&error));
        Self::Flash
    }
}

impl From<Overrun> for Fault {
    fn from(overrun: Overrun) -> Self {
        Self::Overrun(overrun)
    }
}

impl From<supervisor::Error> for Fault {
    fn from(error: supervisor::Error) -> Self {
        Self::Supervisor(error)
    }
}

/// Several faults at once: the first is kept (the supervisor logs every one).
impl Merge for Fault {
    fn merge(self, _other: Self) -> Self {
        self
    }
}

static JOURNAL: Journal = Journal::new();
/// One process per device of the table, four at most (each slot is room for one process in
/// the driver's future), no heap.
static PROCESSES: KeyedSupervisor<u8, u32, Fault, 4> = KeyedSupervisor::new();

const FIRST: [(u8, u32); 3] = [(MODEM, 100), (SENSOR, 250), (LOGGER, 1_000)];
const SECOND: [(u8, u32); 3] = [(MODEM, 100), (LOGGER, 1_000), (DISPLAY, 40)];

const BOOT_1: [&str; 15] = [
    "boot: the table is empty, no process runs",
    "boot: first boot, storing three devices",
    "stored: modem",
    "modem: started",
    "modem: ready",
    "stored: sensor",
    "sensor: started",
    "sensor: ready",
    "stored: logger",
    "logger: started",
    "logger: ready",
    "read back: the three devices are in flash",
    "modem: stopped",
    "sensor: stopped",
    "logger: stopped",
];
const BOOT_2: [&str; 15] = [
    "modem: started",
    "modem: ready",
    "sensor: started",
    "sensor: ready",
    "logger: started",
    "logger: ready",
    "boot: second boot, the processes of the first boot are back",
    "removed: sensor",
    "sensor: stopped",
    "stored: display",
    "display: started",
    "display: ready",
    "modem: stopped",
    "display: stopped",
    "logger: stopped",
];
const BOOT_3: [&str; 10] = [
    "modem: started",
    "modem: ready",
    "logger: started",
    "logger: ready",
    "display: started",
    "display: ready",
    "boot: third boot, the processes of the second boot are back",
    "modem: stopped",
    "logger: stopped",
    "display: stopped",
];

/// What the process of a device notes: started, ready, stopped.
fn notes(id: u8) -> [&'static str; 3] {
    match id {
        MODEM => ["modem: started", "modem: ready", "modem: stopped"],
        SENSOR => ["sensor: started", "sensor: ready", "sensor: stopped"],
        LOGGER => ["logger: started", "logger: ready", "logger: stopped"],
        DISPLAY => ["display: started", "display: ready", "display: stopped"],
        _ => ["unknown: started", "unknown: ready", "unknown: stopped"],
    }
}

/// The period stored for `id` in this story.
fn period_of(id: u8) -> Option<u32> {
    FIRST.iter().chain(&SECOND).find(|(k, _)| *k == id).map(|(_, p)| *p)
}

/// A deadline for the stops: a process that does not stop in time is cancelled, then dropped.
fn deadline() -> Timer {
    Timer::after_millis(100)
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    start_time();
    let flash = match HostFlash::<SIZE>::open(c"flash-table.bin") {
        Ok(flash) => flash,
        Err(e) => {
            defmt::error!("flash: cannot open the flash file: {}", e);
            exit(false);
        }
    };
    let table: Devices = FlashTable::new(flash, 0..SIZE as u32);

    // The process of one device: it would poll the device every `period` ms until stopped.
    let process = |id: &u8, period: &u32| {
        let (id, period) = (*id, *period);
        from_fn(async move |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), Fault> {
            let [started, ready, stopped] = notes(id);
            defmt::info!("info: device {=u8}, every {=u32} ms", id, period);
            if period_of(id) != Some(period) {
                return Err(Fault::WrongPeriod);
            }
            JOURNAL.note(started);
            lc.ready();
            JOURNAL.note(ready);
            lc.stop_requested().await;
            JOURNAL.note(stopped);
            Ok(())
        })
    };
    let setup = Setup::new(&table, process, EmbassyClock).shutdown_deadlines(deadline, deadline);
    let expected = Cell::new(None);
    let ctx = Ctx::new();
    // The first pass starts one process per device in the flash; the callback runs once they
    // are ready.
    let result = PROCESSES
        .drive(&ctx, &setup, async |ctx: &Ctx<'_>| {
            let running = PROCESSES.keys();
            let all_running = running.iter().all(|id| PROCESSES.get(id).map(|e| e.state) == Ok(State::Running));
            if !all_running {
                defmt::error!("boot: a restored process is not running");
                exit(false);
            }
            expected.set(Some(if running.is_empty() {
                JOURNAL.note("boot: the table is empty, no process runs");
                first_boot(&table, ctx).await?;
                &BOOT_1[..]
            } else if running == FIRST.map(|(id, _)| id) {
                second_boot(&table).await?;
                &BOOT_2[..]
            } else if running == SECOND.map(|(id, _)| id) {
                JOURNAL.note("boot: third boot, the processes of the second boot are back");
                &BOOT_3[..]
            } else {
                defmt::error!("boot: other processes run: {}", running.as_slice());
                exit(false);
            }));
            Ok(())
        })
        .await;
    match (result, expected.get()) {
        (Ok(()), Some(expected)) => finish(&JOURNAL, expected),
        (result, _) => {
            defmt::error!("supervisor: {}", result);
            exit(false);
        }
    }
}

/// Stores the three devices of the first boot, starting the process of each.
async fn first_boot(table: &Devices, ctx: &Ctx<'_>) -> Result<(), Fault> {
    JOURNAL.note("boot: first boot, storing three devices");
    for (id, period) in FIRST {
        table.insert(&id, &period).await?;
        JOURNAL.note(match id {
            MODEM => "stored: modem",
            SENSOR => "stored: sensor",
            _ => "stored: logger",
        });
        start(id).await?;
    }
    let mut all = true;
    for (id, period) in FIRST {
        all &= table.get(ctx, &id).await? == Some(period);
    }
    all &= table.get(ctx, &DISPLAY).await?.is_none();
    if all {
        JOURNAL.note("read back: the three devices are in flash");
    }
    Ok(())
}

/// Removes the sensor (its process stops) and adds the display (its process starts).
async fn second_boot(table: &Devices) -> Result<(), Fault> {
    JOURNAL.note("boot: second boot, the processes of the first boot are back");
    table.remove(&SENSOR).await?;
    JOURNAL.note("removed: sensor");
    match PROCESSES.stop(&SENSOR, deadline, deadline).await {
        Ok(stopped) => stopped.into_result()?,
        Err(e) => {
            defmt::error!("supervisor: the sensor does not stop: {}", e);
            exit(false);
        }
    }
    if PROCESSES.forget(&SENSOR).is_err() {
        defmt::error!("supervisor: the sensor keeps its slot");
        exit(false);
    }
    table.insert(&DISPLAY, &40).await?;
    JOURNAL.note("stored: display");
    start(DISPLAY).await
}

/// Starts the process of `id` from its entry in the table and waits until it is ready.
async fn start(id: u8) -> Result<(), Fault> {
    PROCESSES.start(id).await.map_err(|e| {
        defmt::error!("supervisor: device {=u8} does not start: {}", id, e);
        exit(false)
    })
}
