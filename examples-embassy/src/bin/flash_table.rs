//! A table of desired processes in flash that survives a reboot.
//!
//! The table maps a device id to its polling period, in a `sequential-storage` key map
//! (`FlashTable`) on a flash that is a file on the host (`HostFlash`, through semihosting), so
//! each qemu run is one boot of the same device. At boot the firmware restores the table with
//! one pass over it, then takes the next step of a fixed story:
//!
//! 1. first boot, empty table: it stores the modem, the sensor and the logger, and reads them
//!    back;
//! 2. second boot: it restores exactly those three, removes the sensor and adds the display;
//! 3. third boot: it restores the modem, the logger and the display.
//!
//! Any other table is an error (exit status 1). `scripts/firmware` runs it three times over one
//! flash file and compares each boot's output with `expected/flash_table.boot<N>.txt`.
//!
//! The restore pass is where the keyed supervisor takes over once it exists: it runs over this
//! same table and starts one process per key (see `restore`).

#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use heapless::Vec;
use procession::Ctx;
use procession::table::{Cursor, Table};
use procession_examples_embassy::host_flash::HostFlash;
use procession_examples_embassy::{Journal, exit, finish, start_time};
use procession_flash_table::{FlashTable, PAGE};

/// Four erase pages: the smallest map that can move a page while keeping the others.
const SIZE: usize = 4 * PAGE;

/// Device ids and their names.
const MODEM: u8 = 1;
const SENSOR: u8 = 2;
const LOGGER: u8 = 3;
const DISPLAY: u8 = 4;

type Devices = FlashTable<u8, u32, HostFlash<SIZE>, NoopRawMutex, 16>;

static JOURNAL: Journal = Journal::new();

const FIRST: [(u8, u32); 3] = [(MODEM, 100), (SENSOR, 250), (LOGGER, 1_000)];
const SECOND: [(u8, u32); 3] = [(MODEM, 100), (LOGGER, 1_000), (DISPLAY, 40)];

const BOOT_1: [&str; 6] = [
    "boot: the table is empty",
    "boot: first boot, storing three devices",
    "stored: modem",
    "stored: sensor",
    "stored: logger",
    "read back: the three devices are in flash",
];
const BOOT_2: [&str; 6] = [
    "restored: modem",
    "restored: sensor",
    "restored: logger",
    "boot: second boot, the devices of the first boot are back",
    "removed: sensor",
    "stored: display",
];
const BOOT_3: [&str; 4] = [
    "restored: modem",
    "restored: logger",
    "restored: display",
    "boot: third boot, the devices of the second boot are back",
];

fn name(id: u8) -> &'static str {
    match id {
        MODEM => "restored: modem",
        SENSOR => "restored: sensor",
        LOGGER => "restored: logger",
        DISPLAY => "restored: display",
        _ => "restored: an unknown device",
    }
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
    let ctx = Ctx::new();

    let restored = match restore(&table, &ctx).await {
        Ok(restored) => restored,
        Err(e) => {
            defmt::error!("flash: the table does not load: {}", defmt::Debug2Format(&e));
            exit(false);
        }
    };

    let result = if restored.is_empty() {
        first_boot(&table, &ctx).await.map(|()| &BOOT_1[..])
    } else if restored == FIRST {
        second_boot(&table).await.map(|()| &BOOT_2[..])
    } else if restored == SECOND {
        JOURNAL.note("boot: third boot, the devices of the second boot are back");
        Ok(&BOOT_3[..])
    } else {
        defmt::error!("boot: the table holds something else: {}", restored.as_slice());
        exit(false);
    };
    match result {
        Ok(expected) => finish(&JOURNAL, expected),
        Err(e) => {
            defmt::error!("flash: {}", defmt::Debug2Format(&e));
            exit(false);
        }
    }
}

/// One pass over the table, last value winning. With the keyed supervisor, this is its restore
/// pass: `Keyed::run` over `table` starts one process per device here.
async fn restore(
    table: &Devices,
    ctx: &Ctx<'_>,
) -> Result<Vec<(u8, u32), 8>, procession_flash_table::Error<HostFlash<SIZE>>> {
    let mut pass = table.iter(ctx).await?;
    let mut restored: Vec<(u8, u32), 8> = Vec::new();
    while let Some((id, period)) = pass.next(ctx).await? {
        JOURNAL.note(name(id));
        defmt::info!("info: device {=u8}, every {=u32} ms", id, period);
        match restored.iter_mut().find(|(seen, _)| *seen == id) {
            Some(entry) => entry.1 = period,
            None => {
                if restored.push((id, period)).is_err() {
                    defmt::error!("restore: more than 8 devices");
                    exit(false);
                }
            }
        }
    }
    if restored.is_empty() {
        JOURNAL.note("boot: the table is empty");
    }
    Ok(restored)
}

async fn first_boot(table: &Devices, ctx: &Ctx<'_>) -> Result<(), procession_flash_table::Error<HostFlash<SIZE>>> {
    JOURNAL.note("boot: first boot, storing three devices");
    for (id, period) in FIRST {
        table.insert(&id, &period).await?;
        JOURNAL.note(match id {
            MODEM => "stored: modem",
            SENSOR => "stored: sensor",
            _ => "stored: logger",
        });
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

async fn second_boot(table: &Devices) -> Result<(), procession_flash_table::Error<HostFlash<SIZE>>> {
    JOURNAL.note("boot: second boot, the devices of the first boot are back");
    table.remove(&SENSOR).await?;
    JOURNAL.note("removed: sensor");
    table.insert(&DISPLAY, &40).await?;
    JOURNAL.note("stored: display");
    Ok(())
}
