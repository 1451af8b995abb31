//! The tuple plumbing shared by the sets of children ([`Children`](crate::combinator::Children))
//! and of processes ([`Procs`](crate::proc::Procs)): one list of tuple arities, one pairwise
//! join.

/// Calls `$m!(len; T0 i0, T1 i1, ...)` for every tuple of 1 to 12 elements (`for_tuples!(m)`)
/// or of 2 to 12 (`for_tuples!(from_2 m)`, for sets that handle one child by hand): `len` is
/// a literal, each `T` a type parameter name and each `i` the tuple index.
macro_rules! for_tuples {
    ($m:ident) => {
        $m!(1; A 0);
        $crate::set_macros::for_tuples!(from_2 $m);
    };
    (from_2 $m:ident) => {
        $m!(2; A 0, B 1);
        $m!(3; A 0, B 1, C 2);
        $m!(4; A 0, B 1, C 2, D 3);
        $m!(5; A 0, B 1, C 2, D 3, G 4);
        $m!(6; A 0, B 1, C 2, D 3, G 4, H 5);
        $m!(7; A 0, B 1, C 2, D 3, G 4, H 5, I 6);
        $m!(8; A 0, B 1, C 2, D 3, G 4, H 5, I 6, J 7);
        $m!(9; A 0, B 1, C 2, D 3, G 4, H 5, I 6, J 7, K 8);
        $m!(10; A 0, B 1, C 2, D 3, G 4, H 5, I 6, J 7, K 8, L 9);
        $m!(11; A 0, B 1, C 2, D 3, G 4, H 5, I 6, J 7, K 8, L 9, M 10);
        $m!(12; A 0, B 1, C 2, D 3, G 4, H 5, I 6, J 7, K 8, L 9, M 10, N 11);
    };
}

/// Joins the futures `$arm!(args; i)` for the tuple indices `i`, nested pairwise (one
/// `embassy_futures::join::join` per element, no array of futures), and merges their results
/// in index order with [`merge_results`](crate::error::merge_results): the future of a whole
/// set, `Result<(), E>` with `E: Merge`.
///
/// `$arm` is a macro of the caller taking the identifiers `args` and one index:
///
/// ```ignore
/// macro_rules! proc_arm { ($this:ident, $ctx:ident, $group:ident; $i:tt) => { arm(&$this.$i, $ctx, $group) } }
/// join_merged!(proc_arm(this, ctx, group); 0, 1, 2).await
/// ```
macro_rules! join_merged {
    ($arm:ident($($a:ident),*); $i:tt) => {
        $arm!($($a),*; $i)
    };
    ($arm:ident($($a:ident),*); $i:tt, $j:tt, $k:tt) => {
        async {
            let (a, b, c) = embassy_futures::join::join3($arm!($($a),*; $i), $arm!($($a),*; $j), $arm!($($a),*; $k)).await;
            $crate::error::merge_results($crate::error::merge_results(a, b), c)
        }
    };
    ($arm:ident($($a:ident),*); $i:tt, $j:tt, $k:tt, $l:tt) => {
        async {
            let (a, b, c, d) = embassy_futures::join::join4(
                $arm!($($a),*; $i),
                $arm!($($a),*; $j),
                $arm!($($a),*; $k),
                $arm!($($a),*; $l),
            )
            .await;
            $crate::error::merge_results($crate::error::merge_results($crate::error::merge_results(a, b), c), d)
        }
    };
    ($arm:ident($($a:ident),*); $i:tt, $($rest:tt),+) => {
        async {
            let (first, rest) = embassy_futures::join::join(
                $arm!($($a),*; $i),
                $crate::set_macros::join_merged!($arm($($a),*); $($rest),+),
            )
            .await;
            $crate::error::merge_results(first, rest)
        }
    };
}

pub(crate) use {for_tuples, join_merged};
