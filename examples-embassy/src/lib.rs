//! Support shared by the firmware examples: a SysTick time driver for embassy-time, a journal
//! of what happened (printed through defmt and checked at the end), the semihosting exit, and
//! a flash that is a file on the host ([`host_flash`]).
//!
//! No HAL covers the emulated boards, so time comes from SysTick: one interrupt per millisecond
//! advances a 64-bit tick counter and wakes the timers that are due. The examples contain no
//! `unsafe` of their own.

#![no_std]

pub mod host_flash;

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use cortex_m_semihosting::debug;
use critical_section::Mutex;
use defmt_semihosting as _;
use embassy_time_queue_utils::Queue;

/// Core clock of the emulated board: mps2-an386 (Cortex-M4, the `eabihf` build) runs at
/// 25 MHz, lm3s6965evb (Cortex-M3) at 12 MHz.
const CORE_HZ: u32 = if cfg!(target_abi = "eabihf") { 25_000_000 } else { 12_000_000 };

/// Ticks per second of embassy-time (feature `tick-hz-1_000`): one SysTick interrupt each.
const TICK_HZ: u32 = 1_000;

struct SysTickDriver {
    state: Mutex<RefCell<DriverState>>,
}

struct DriverState {
    ticks: u64,
    /// The tick at which the queue must be asked for due timers again (`u64::MAX`: none).
    alarm: u64,
    queue: Queue,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    state: Mutex::new(RefCell::new(DriverState { ticks: 0, alarm: u64::MAX, queue: Queue::new() })),
});

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.state.borrow_ref(cs).ticks)
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            let state = &mut *state;
            if state.queue.schedule_wake(at, waker) {
                state.alarm = state.queue.next_expiration(state.ticks);
            }
        });
    }
}

impl SysTickDriver {
    fn tick(&self) {
        critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            let state = &mut *state;
            state.ticks += 1;
            if state.ticks >= state.alarm {
                state.alarm = state.queue.next_expiration(state.ticks);
            }
        });
    }
}

#[exception]
fn SysTick() {
    DRIVER.tick();
}

/// Starts the millisecond SysTick that drives embassy-time. Call once, first thing in `main`.
pub fn start_time() {
    let Some(mut peripherals) = cortex_m::Peripherals::take() else {
        defmt::error!("the core peripherals were already taken");
        exit(false);
    };
    let syst = &mut peripherals.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Ends the emulation: exit status 0 when `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only reached on hardware without a debugger attached.
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

/// Most events a journal keeps; one more is an error (the firmware then fails).
pub const JOURNAL_CAPACITY: usize = 48;

/// What happened, in order: every entry is printed through defmt when it is noted, and the
/// firmware compares the whole journal with the sequence it expects before it exits.
pub struct Journal {
    events: Mutex<RefCell<heapless::Vec<&'static str, JOURNAL_CAPACITY>>>,
    overflowed: Mutex<RefCell<bool>>,
}

impl Journal {
    /// An empty journal; it can be a `static`.
    pub const fn new() -> Self {
        Self { events: Mutex::new(RefCell::new(heapless::Vec::new())), overflowed: Mutex::new(RefCell::new(false)) }
    }

    /// Prints `event` and appends it.
    pub fn note(&self, event: &'static str) {
        defmt::info!("{=str}", event);
        critical_section::with(|cs| {
            if self.events.borrow_ref_mut(cs).push(event).is_err() {
                *self.overflowed.borrow_ref_mut(cs) = true;
            }
        });
    }

    /// Whether the journal holds exactly `expected`. Prints the first difference when not.
    pub fn matches(&self, expected: &[&str]) -> bool {
        critical_section::with(|cs| {
            let events = self.events.borrow_ref(cs);
            if *self.overflowed.borrow_ref(cs) {
                defmt::error!("journal: more than {=usize} events", JOURNAL_CAPACITY);
                return false;
            }
            for (index, (seen, wanted)) in events.iter().zip(expected).enumerate() {
                if seen != wanted {
                    defmt::error!("journal: event {=usize} is {=str}, expected {=str}", index, *seen, *wanted);
                    return false;
                }
            }
            if events.len() != expected.len() {
                defmt::error!("journal: {=usize} events, expected {=usize}", events.len(), expected.len());
                return false;
            }
            true
        })
    }
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

/// Compares the journal with `expected`, prints the verdict and ends the emulation with it.
pub fn finish(journal: &Journal, expected: &[&str]) -> ! {
    let success = journal.matches(expected);
    if success {
        defmt::info!("verdict: the observed sequence is the expected one");
    } else {
        defmt::error!("verdict: unexpected sequence");
    }
    exit(success)
}
