//! One worker per device: a [`KeyedSupervisor`] runs one process per key of a table of devices
//! (device name → polling period), added and removed while it runs.
//!
//! Adding a device is a table insert and a `start`, which returns once the worker is ready; a
//! second `start` of the same device is refused. A worker that fails is restarted after a
//! backoff (the policy is `Transient`: a failure restarts it, a clean stop does not). Removing a
//! device stops its worker gracefully and frees its key, so that it can be added again.
//!
//! Time is a [`ManualClock`] that `auto_advance` moves forward whenever every task waits: the
//! example takes no real time and prints the same lines every run. A real program passes a
//! `StdClock` (or a `TokioClock`) instead.

use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::executor::block_on;
use futures::future::{Either, select};
use procession::retry::Exp2;
use procession::runner::{Lifecycle, from_fn};
use procession::table::{BTreeTable, Event, KeyedSupervisor, Policy, Restart, Setup};
use procession::time::{Clock, ManualClock};
use procession::{Ctx, TreeError, never};

/// Reads `device` once. The simulated bus: the sensor's second read fails.
fn read(device: &str) -> Result<(), &'static str> {
    static SENSOR_READS: AtomicU32 = AtomicU32::new(0);
    if device == "sensor" && SENSOR_READS.fetch_add(1, Ordering::SeqCst) == 1 {
        println!("{device}: no answer");
        return Err("no answer");
    }
    Ok(())
}

fn main() {
    let clock: ManualClock = ManualClock::new();
    let devices: BTreeTable<&str, u32> = BTreeTable::new();
    let workers: KeyedSupervisor<&str, u32, TreeError> = KeyedSupervisor::new();

    // The worker of one device: ready after a first read, then one read per period until stopped.
    let worker = |device: &&'static str, period: &u32| {
        let (device, period, clock) = (*device, Duration::from_millis(u64::from(*period)), &clock);
        from_fn(async move |_ctx: &Ctx<'_>, lc: &Lifecycle<'_>| -> Result<(), TreeError> {
            read(device)?;
            println!("{device}: online, polling every {} ms", period.as_millis());
            lc.ready();
            let polling = pin!(async {
                loop {
                    clock.sleep(period).await;
                    if let Err(error) = read(device) {
                        break error;
                    }
                }
            });
            match select(pin!(lc.stop_requested()), polling).await {
                Either::Left(_) => {
                    println!("{device}: offline");
                    Ok(())
                }
                Either::Right((error, _)) => Err(error.into()),
            }
        })
    };
    let policy = Policy::new().restart(Restart::Transient).backoff(Exp2::new(Duration::from_millis(25)));
    let setup = Setup::new(&devices, worker, &clock).policy(policy).observe(|event: &Event<'_, &str, TreeError>| {
        if let Event::BackingOff { key, delay } = event {
            let at = clock.now().elapsed().as_millis();
            println!("supervisor: {key} failed at {at} ms, restarting it in {} ms", delay.as_millis());
        }
    });

    let root = Ctx::new();
    let result = block_on(clock.auto_advance().until(workers.drive(&root, &setup, async |_ctx: &Ctx<'_>| {
        for (device, period) in [("modem", 100), ("sensor", 250)] {
            println!("main: adding {device}");
            devices.insert(device, period);
            workers.start(device).await?;
            println!("main: {device} is ready");
        }
        println!("main: adding modem again: {:?}", workers.start("modem").await);

        clock.sleep(Duration::from_secs(1)).await;
        let sensor = workers.get(&"sensor")?;
        println!("main: 1 s later the sensor is {} (restarts: {})", sensor.state, sensor.restarts);

        println!("main: removing sensor");
        devices.remove(&"sensor");
        let stopped = workers.stop(&"sensor", never, never).await?;
        workers.forget(&"sensor")?;
        println!("main: sensor removed ({:?}, {:?})", stopped.level, stopped.result);

        println!("main: adding sensor again");
        devices.insert("sensor", 250);
        workers.start("sensor").await?;
        println!("main: done");
        Ok(())
    })));
    println!("main: supervisor returned {result:?}");
}
