//! Formerly: `Process::new()` and the `shot` types needed a mutex annotation (E0283 "cannot
//! satisfy `_: RawMutex`") where `Supervisor` and its `Control` did not, and
//! `ManualClock::new()` a capacity (E0284). Each now has a default, the same one.

use procession::retry::Once;
use procession::shot::{Group, Job, Many, One};
use procession::supervisor::{Control, Supervisor};
use procession::time::ManualClock;
use procession::{Ctx, Process, TreeError, nop};

static LINK: Process<TreeError> = Process::new();
static ONCE: One<'static> = One::detached();
static WORKER: Many<'static> = Many::detached();
static BACKUP: Job<TreeError> = Job::new();
static JOBS: Group<'static, ()> = Group::detached();
static SUPERVISOR: Supervisor<procession::supervisor::Identity<procession::runner::Nop>, Once> =
    Supervisor::new(nop(), Once);
static ROOT: Ctx<'static> = Ctx::new();

fn main() {
    let clock = ManualClock::new();
    let _ = clock.now();
    let supervisor: Supervisor<_, _> = Supervisor::new(nop(), Once);
    let _control: &Control = supervisor.control();
    let _ = (&LINK, &ONCE, &WORKER, &BACKUP, &JOBS, &SUPERVISOR, &ROOT);
    let _: One<'_> = One::new(&ROOT);
    let _: Many<'_> = Many::new(&ROOT);
}
