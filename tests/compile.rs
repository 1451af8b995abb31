//! What a user would have tripped over before 0.1, checked by the compiler (trybuild): each
//! case in `tests/ui` either compiles now (`pass_*`) or fails where the user wrote the
//! mistake, with a message that names the missing piece (`fail_*`, with its `.stderr`).
//!
//! Run under one feature set only (`std`, without `tokio`): the compiler's messages list the
//! impls that exist, which differ between feature sets. `TRYBUILD=overwrite cargo test
//! --no-default-features --features std --test compile` rewrites the `.stderr` files.
#![cfg(all(feature = "std", not(feature = "tokio"), not(miri)))]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
