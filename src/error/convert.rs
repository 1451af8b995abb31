//! Every conversion of the crate's own errors into the error types of a tree, in one place.
//!
//! The crate's adapters need, of a tree's error type `E`: [`Merge`] (combinators, deadlines,
//! supervisors), `From<`[`Overrun`]`>` (deadlines), `From<`[`supervisor::Error`]`>` (the
//! restart supervisor), `From<`[`group::Error`]`>` (the groups of [`group`]), `From<`[`TaskError`]`<X>>` ([`task`](crate::proc::task)) and
//! [`Prefix`] (naming a node). [`TreeError`](super::TreeError) and
//! [`UnboundedTreeError`](super::UnboundedTreeError) have them all for every `E`, through
//! their entries, [`Failure`]. A plain [`MultiError<E, N>`](MultiError) or
//! [`UnboundedMultiError<E>`](super::UnboundedMultiError) forwards each to its entries: it has
//! it when `E` has it.

use super::{Failure, Kind, Merge, Message, MultiError, Overrun, Prefix};
use crate::proc::TaskError;
use crate::{group, supervisor, table};

// === into a Failure: no bound on the user's error ===

impl<E> From<Overrun> for Failure<E> {
    fn from(overrun: Overrun) -> Self {
        Self::new(Kind::Overrun(overrun))
    }
}

impl<E> From<supervisor::Error> for Failure<E> {
    fn from(error: supervisor::Error) -> Self {
        Self::new(Kind::Supervisor(error))
    }
}

impl<E> From<group::Error> for Failure<E> {
    fn from(error: group::Error) -> Self {
        Self::new(Kind::Group(error))
    }
}

/// A table (or any part) that cannot fail: the keyed supervisor needs `E: From<T::Error>`.
impl<E> From<core::convert::Infallible> for Failure<E> {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

/// A task's failure is the process's own error, named after the task.
impl<E> From<TaskError<E>> for Failure<E> {
    fn from(error: TaskError<E>) -> Self {
        Self::own(error.error).named(error.name)
    }
}

/// A plain message is a failure of the user's own type.
impl From<&'static str> for Failure<&'static str> {
    fn from(message: &'static str) -> Self {
        Self::own(message)
    }
}

/// A plain message is a failure of the user's own type.
impl From<&'static str> for Failure<Message> {
    fn from(message: &'static str) -> Self {
        Self::own(Message(message))
    }
}

/// A failure of a plain message ([`fail`](super::fail)`("..")`) in a tree of [`Message`]s.
impl From<Failure<&'static str>> for Failure<Message> {
    fn from(failure: Failure<&'static str>) -> Self {
        failure.map_own(Message)
    }
}

/// A task whose process fails with a plain message, in a tree of [`Message`]s.
impl From<TaskError<&'static str>> for Failure<Message> {
    fn from(error: TaskError<&'static str>) -> Self {
        Self::own(Message(error.error)).named(error.name)
    }
}

/// Names the failure after the node, unless a node closer to it already named it
/// ([`Failure::named`]).
impl<E> Prefix for Failure<E> {
    fn prefix(self, node: &'static str) -> Self {
        self.named(node)
    }
}

// === into a bounded list ===

impl<E: From<Overrun>, const N: usize> From<Overrun> for MultiError<E, N> {
    fn from(overrun: Overrun) -> Self {
        Self::from_error(E::from(overrun))
    }
}

/// A list of failures can hold task failures as they are, one entry each.
impl<E, X, const N: usize> From<TaskError<X>> for MultiError<E, N>
where
    E: From<TaskError<X>>,
{
    fn from(error: TaskError<X>) -> Self {
        Self::from_error(E::from(error))
    }
}

impl<E, const N: usize> From<Failure<E>> for MultiError<Failure<E>, N> {
    fn from(failure: Failure<E>) -> Self {
        Self::from_error(failure)
    }
}

/// A plain message, so that `?` and `.into()` work on `Result<_, &'static str>`.
impl<const N: usize> From<&'static str> for MultiError<Failure<&'static str>, N> {
    fn from(message: &'static str) -> Self {
        Self::from_error(Failure::own(message))
    }
}

/// A plain message, so that `?` and `.into()` work on `Result<_, &'static str>`.
impl<const N: usize> From<&'static str> for MultiError<Failure<Message>, N> {
    fn from(message: &'static str) -> Self {
        Self::from_error(Failure::own(Message(message)))
    }
}

/// A failure of a plain message ([`fail`](super::fail)`("..")`) in a tree of [`Message`]s.
impl<const N: usize> From<Failure<&'static str>> for MultiError<Failure<Message>, N> {
    fn from(failure: Failure<&'static str>) -> Self {
        Self::from_error(failure.into())
    }
}

/// A task over a tree: every failure of the tree, named after the task where no node closer
/// to it named it.
impl<E, const N: usize> From<TaskError<Self>> for MultiError<Failure<E>, N> {
    fn from(error: TaskError<Self>) -> Self {
        error.error.prefix(error.name)
    }
}

/// A part that cannot fail, in a tree of failures.
impl<E, const N: usize> From<core::convert::Infallible> for MultiError<Failure<E>, N> {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

/// A keyed supervisor's handle error inside a callback that returns a tree error: the error of
/// the process, the table or the claim as it is, the supervisor's refusal as [`Kind::Keyed`].
impl<K, E, const N: usize> From<table::Error<K, Self>> for MultiError<Failure<E>, N> {
    fn from(error: table::Error<K, Self>) -> Self {
        error.split().unwrap_or_else(|refusal| Self::from_error(Failure::new(Kind::Keyed(refusal))))
    }
}

// The `From<supervisor::Error>` and `From<group::Error>` of `MultiError<E, N>` (for `E` with
// the same) are written beside `supervisor::Error` and `group::Error`.

// === into an unbounded list ===

#[cfg(feature = "alloc")]
mod unbounded {
    use super::{Failure, Kind, Message, Overrun, Prefix, TaskError, group, supervisor, table};
    use crate::error::UnboundedMultiError;

    impl<E: From<Overrun>> From<Overrun> for UnboundedMultiError<E> {
        fn from(overrun: Overrun) -> Self {
            Self::from_error(E::from(overrun))
        }
    }

    impl<E: From<supervisor::Error>> From<supervisor::Error> for UnboundedMultiError<E> {
        fn from(error: supervisor::Error) -> Self {
            Self::from_error(E::from(error))
        }
    }

    /// As for [`TreeError`](crate::TreeError): the error of the process, the table or the claim
    /// as it is, the keyed supervisor's refusal as [`Kind::Keyed`].
    impl<K, E> From<table::Error<K, Self>> for UnboundedMultiError<Failure<E>> {
        fn from(error: table::Error<K, Self>) -> Self {
            error.split().unwrap_or_else(|refusal| Self::from_error(Failure::new(Kind::Keyed(refusal))))
        }
    }

    impl<E> From<core::convert::Infallible> for UnboundedMultiError<Failure<E>> {
        fn from(never: core::convert::Infallible) -> Self {
            match never {}
        }
    }

    impl<E: From<group::Error>> From<group::Error> for UnboundedMultiError<E> {
        fn from(error: group::Error) -> Self {
            Self::from_error(E::from(error))
        }
    }

    /// A list of failures can hold task failures as they are, one entry each.
    impl<E, X> From<TaskError<X>> for UnboundedMultiError<E>
    where
        E: From<TaskError<X>>,
    {
        fn from(error: TaskError<X>) -> Self {
            Self::from_error(E::from(error))
        }
    }

    impl<E> From<Failure<E>> for UnboundedMultiError<Failure<E>> {
        fn from(failure: Failure<E>) -> Self {
            Self::from_error(failure)
        }
    }

    /// A plain message, so that `?` and `.into()` work on `Result<_, &'static str>`.
    impl From<&'static str> for UnboundedMultiError<Failure<&'static str>> {
        fn from(message: &'static str) -> Self {
            Self::from_error(Failure::own(message))
        }
    }

    /// A plain message, so that `?` and `.into()` work on `Result<_, &'static str>`.
    impl From<&'static str> for UnboundedMultiError<Failure<Message>> {
        fn from(message: &'static str) -> Self {
            Self::from_error(Failure::own(Message(message)))
        }
    }

    /// A failure of a plain message ([`fail`](crate::fail)`("..")`) in a tree of [`Message`]s.
    impl From<Failure<&'static str>> for UnboundedMultiError<Failure<Message>> {
        fn from(failure: Failure<&'static str>) -> Self {
            Self::from_error(failure.into())
        }
    }

    /// A task over a tree: every failure of the tree, named after the task where no node
    /// closer to it named it.
    impl<E> From<TaskError<Self>> for UnboundedMultiError<Failure<E>> {
        fn from(error: TaskError<Self>) -> Self {
            error.error.prefix(error.name)
        }
    }
}

// === Merge ===

impl Merge for core::convert::Infallible {
    fn merge(self, _: Self) -> Self {
        self
    }
}
