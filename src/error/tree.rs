//! [`TreeError`]: the ready-made error of a process tree, and its entries, [`Failure`]s.

use core::fmt;

use super::{MultiError, Overrun};
use crate::{group, supervisor, table};

/// The ready-made error type of a process tree: every failure of the tree, bounded, each with
/// the name of the node that reported it (no heap).
///
/// `E` is the user's own error (an enum, or plain messages: [`Message`], the default); `N`
/// the number of failures kept (4 by default; more are counted, see
/// [`MultiError::overflow`]). It is a [`MultiError`] of [`Failure`]s, so it implements every
/// conversion the crate needs **with no bound on `E`**: [`Merge`](super::Merge) (several
/// failures), `From<`[`Overrun`]`>` (deadlines), `From<`[`supervisor::Error`]`>` (the
/// restart supervisor), `From<`[`group::Error`]`>` (the groups of [`group`]), `From<`[`TaskError`](crate::proc::TaskError)`<E>>` and
/// `From<TaskError<TreeError<E, N>>>` (named processes), [`Prefix`](super::Prefix) (naming a
/// node, [`RunnerExt::named`](crate::RunnerExt::named)). A user writes no trait impl to use
/// deadlines, supervisors, tasks or groups.
///
/// A failure of the user's own type is made with [`fail`] (`return fail(AppError::LinkDown)`,
/// `fail("disk full")`), with [`Failure::own`] and `.into()`, or, for plain messages, with `?`
/// and `.into()` on the `&'static str` itself. To use `?` on results of the user's own error type, the user may add
/// `impl From<AppError> for TreeError<AppError>` (allowed by the orphan rules; the crate
/// cannot write it for every `E`).
///
/// With `alloc`, [`UnboundedTreeError`] keeps every failure on the heap.
///
/// # Examples
///
/// A tree with plain messages, a deadline and names:
///
/// ```
/// use core::future::{pending, ready};
/// use procession::{Ctx, Runner, RunnerExt, TreeError, chain, fail, leaf};
///
/// let storage = leaf(async |ctx: &Ctx<'_>| -> Result<(), TreeError> {
///     ctx.cancelled().await;
///     pending().await // ignores its stop
/// })
/// .with_stop_deadline(|| ready(()), || ready(()))
/// .named("storage");
/// let app = leaf(async |_: &Ctx<'_>| fail("bad request")).named("app");
///
/// let root = Ctx::new();
/// let error = embassy_futures::block_on(chain((storage, app)).run(&root, async |_| Ok(()))).unwrap_err();
/// assert_eq!(error.to_string(), "2 errors:\n- storage: stop deadline passed, dropped\n- app: bad request");
/// ```
///
/// The user's own enum, with a supervisor, needs no impl either:
///
/// ```
/// use procession::{Ctx, Runner, TreeError, leaf};
/// use procession::retry::Once;
/// use procession::supervisor::Supervisor;
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { LinkDown }
///
/// let radio = leaf(async |_: &Ctx<'_>| procession::fail(AppError::LinkDown));
/// let sup = Supervisor::new(radio, Once);
/// let root = Ctx::new();
/// let error: TreeError<AppError> = embassy_futures::block_on(sup.run(&root, async |_| Ok(()))).unwrap_err();
/// assert_eq!(error.errors()[0].own_error(), Some(&AppError::LinkDown));
/// ```
pub type TreeError<E = Message, const N: usize = 4> = MultiError<Failure<E>, N>;

/// The ready-made error type of a process tree, keeping every failure on the heap (`alloc`).
///
/// The unbounded form of [`TreeError`]: an [`UnboundedMultiError`](super::UnboundedMultiError)
/// of [`Failure`]s, with the same conversions, none of which needs a bound on `E`.
#[cfg(feature = "alloc")]
pub type UnboundedTreeError<E = Message> = super::UnboundedMultiError<Failure<E>>;

/// Returns `Err` holding `error`, a failure of the user's own type, in the tree's error type
/// (a [`TreeError`], an [`UnboundedTreeError`], or a [`Failure`]).
///
/// The short spelling of `Err(Failure::own(error).into())`. A `&'static str` goes into a tree
/// of [`Message`]s.
///
/// # Examples
///
/// ```
/// use procession::{Ctx, TreeError, fail};
/// use procession::proc::Proc;
///
/// let config = async |_: &Ctx<'_>| -> Result<(), TreeError> { fail("bad config") };
/// let root = Ctx::new();
/// let error = embassy_futures::block_on(config.run(&root)).unwrap_err();
/// assert_eq!(error.to_string(), "bad config");
/// assert_eq!(error.errors()[0].own_error(), Some(&"bad config".into()));
/// ```
pub fn fail<T, E, L: From<Failure<E>>>(error: E) -> Result<T, L> {
    Err(L::from(Failure::own(error)))
}

/// A plain message: the user's error of a [`TreeError`] by default.
///
/// `fail("disk full")`, `"disk full".into()` and `?` on a `Result<_, &'static str>` make one.
/// `Display` and `Debug` are the message's own.
///
/// It is a type of its own rather than `&'static str` because of a limit of today's compiler:
/// it cannot prove that the run future of a tree whose error type has a lifetime parameter
/// (`&'static str`, `MultiError<&'static str, N>`) is `Send`, so such a tree cannot be
/// `tokio::spawn`ed ("implementation of `Send` is not general enough"). `Message` has no
/// lifetime parameter, and a `TreeError` of messages can be spawned.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Message(pub &'static str);

impl Message {
    /// The message.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl core::error::Error for Message {}

impl From<&'static str> for Message {
    fn from(message: &'static str) -> Self {
        Self(message)
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One failure of a process tree: the user's own error or one of the crate's, with the name
/// of the node that reported it, if it was named.
///
/// The entries of a [`TreeError`]. `Display` is "node: what" ("storage: stop deadline passed,
/// dropped", "web: address in use"), or just "what" for a failure of an unnamed node.
/// `core::error::Error` is implemented whenever `E` is `Debug + Display`; `source()` is the
/// crate's own error ([`Overrun`], [`supervisor::Error`], [`group::Error`]) and `None` for the user's own (so
/// that `TreeError<&'static str>` is an `Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Failure<E> {
    pub(super) node: Option<&'static str>,
    pub(super) kind: Kind<E>,
}

/// What failed, in a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Kind<E> {
    /// The user's own error, returned by a process or a callback.
    Own(E),
    /// A deadline passed: the process was cancelled or dropped.
    Overrun(Overrun),
    /// A restart supervisor failed by itself (its intensity was exceeded, or it was run twice).
    Supervisor(supervisor::Error),
    /// A [`group::Group`] (or, with `alloc`, a `group::DynGroup`) failed by
    /// itself (already driven, closed, a stop's deadline passed, or a stop's wait fit nowhere).
    Group(group::Error),
    /// A keyed supervisor refused a handle call (the key exists, no slot is free, the driver
    /// is gone...); the key itself is not kept.
    Keyed(table::Error<(), core::convert::Infallible>),
}

// === impl Failure ===

impl<E> Failure<E> {
    /// A failure of an unnamed node.
    pub const fn new(kind: Kind<E>) -> Self {
        Self { node: None, kind }
    }

    /// The user's own `error`, from an unnamed node.
    pub const fn own(error: E) -> Self {
        Self::new(Kind::Own(error))
    }

    /// This failure, reported by the node `node`, unless a node closer to it already named it:
    /// the innermost name is kept, as it says most precisely where the failure happened.
    #[must_use]
    pub fn named(mut self, node: &'static str) -> Self {
        self.node.get_or_insert(node);
        self
    }

    /// The name of the node that reported this failure, if it was named.
    pub const fn node(&self) -> Option<&'static str> {
        self.node
    }

    /// What failed.
    pub const fn kind(&self) -> &Kind<E> {
        &self.kind
    }

    /// What failed, without the name.
    pub fn into_kind(self) -> Kind<E> {
        self.kind
    }

    /// The user's own error, if this is one.
    pub const fn own_error(&self) -> Option<&E> {
        match &self.kind {
            Kind::Own(error) => Some(error),
            _ => None,
        }
    }

    /// The overrun, if a deadline passed.
    pub const fn overrun(&self) -> Option<Overrun> {
        match self.kind {
            Kind::Overrun(overrun) => Some(overrun),
            _ => None,
        }
    }

    /// The same failure with the user's own error converted by `f`; the name and the crate's
    /// own errors are kept.
    pub fn map_own<F>(self, f: impl FnOnce(E) -> F) -> Failure<F> {
        Failure { node: self.node, kind: self.kind.map_own(f) }
    }
}

// === impl Kind ===

impl<E> Kind<E> {
    /// The same kind with the user's own error converted by `f`.
    pub fn map_own<F>(self, f: impl FnOnce(E) -> F) -> Kind<F> {
        match self {
            Self::Own(error) => Kind::Own(f(error)),
            Self::Overrun(overrun) => Kind::Overrun(overrun),
            Self::Supervisor(error) => Kind::Supervisor(error),
            Self::Group(error) => Kind::Group(error),
            Self::Keyed(error) => Kind::Keyed(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = self.node {
            write!(f, "{node}: ")?;
        }
        self.kind.fmt(f)
    }
}

impl<E: fmt::Display> fmt::Display for Kind<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own(error) => error.fmt(f),
            Self::Overrun(overrun) => overrun.fmt(f),
            Self::Supervisor(error) => error.fmt(f),
            Self::Group(error) => error.fmt(f),
            Self::Keyed(error) => error.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for Failure<E> {
    /// The crate's own error; `None` for the user's.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match &self.kind {
            Kind::Own(_) => None,
            Kind::Overrun(overrun) => Some(overrun),
            Kind::Supervisor(error) => Some(error),
            Kind::Group(error) => Some(error),
            Kind::Keyed(error) => Some(error),
        }
    }
}
