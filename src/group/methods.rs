//! The methods `Group` and `DynGroup` forward to their core, with their docs, written once
//! (`group_methods!`), and the impls of the future of `done` (`done_future!`).

/// Emits the methods both group types forward to their core, with their docs. `$overflow` is the doc
/// fragment in which the two types differ.
macro_rules! group_methods {
    (
        impl[$($gen:tt)*] $ty:ty,
        overflow: $overflow:literal,
    ) => {
        impl<$($gen)*> $ty {
            /// The group's context; each child runs on a child of it.
            pub fn context(&self) -> &Ctx<'a> {
                self.core.slots.context()
            }

            /// Closes the current generation: its children are stopped gracefully (their
            /// ready callbacks return), and so is every child handed over before the next
            /// [`wait`](Self::wait) opens a new generation. Does not wait. Returns `true` if
            /// this call closed the generation, `false` if it was closed already.
            pub fn interrupt(&self) -> bool {
                self.core.interrupt()
            }

            /// Cancels the contexts of the current generation's children (a forced stop, with
            /// [`Cause::Shutdown`](crate::Cause::Shutdown)), and of every child handed over
            /// before the next [`wait`](Self::wait). Does not wait. Returns `true` if this call
            /// changed anything.
            pub fn cancel(&self) -> bool {
                self.core.cancel()
            }

            /// Polls for an idle group: `Ready` while no child is queued or running; otherwise
            /// registers the waker of `cx`.
            pub fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
                self.core.slots.poll_idle(self.core.slots.idle_from(), cx).map(|_| ())
            }

            /// Whether no child is queued or running.
            pub fn is_done(&self) -> bool {
                self.core.slots.idle_from().is_none()
            }

            /// Whether the group is closed ([`stop`](Self::stop), or a driver dropped while
            /// children ran): it accepts nothing more.
            pub fn is_closed(&self) -> bool {
                self.core.is_closed()
            }

            /// A bounded close: refuses further children, stops the current generation
            /// gracefully, and waits until every child has returned. If they have not when
            /// `graceful()` completes, their contexts are cancelled with
            /// [`Cause::Deadline`](crate::Cause::Deadline) (forced); if they have not when
            /// `forced()` completes, the driver drops them (hard) and reports each to its
            /// at-exit function with an [`Overrun`] of the hard level. The driver returns once
            /// the group is closed and idle. Pass [`never`](crate::never) for no deadline.
            ///
            /// Children queued while no driver is attached when the stop begins are dropped
            /// at once, never started (as a [`Process`](crate::Process) stopped before its
            /// driver picked it up); so are children still queued at the hard level.
            ///
            /// Several tasks may stop a group at once; each waits and may escalate.
            ///
            /// # Errors
            ///
            /// - [`Error::Overrun`] of phase [`Phase::Stop`](crate::Phase::Stop), with the
            ///   highest level any stop of this group reached
            ///   ([`StopLevel::Forced`](crate::StopLevel::Forced) or
            ///   [`StopLevel::Hard`](crate::StopLevel::Hard); also hard once a driver was
            ///   dropped while children ran). The end of the last child wins a tie with a
            ///   deadline.
            #[doc = $overflow]
            ///
            /// # Cancel safety
            ///
            /// The close happens at the first poll; dropping the future after that stops the
            /// waiting and the escalation, not the stop.
            pub async fn stop<G, GF, H, HF>(&self, graceful: G, forced: H) -> Result<(), Error>
            where
                G: FnOnce() -> GF,
                GF: Future<Output = ()>,
                H: FnOnce() -> HF,
                HF: Future<Output = ()>,
            {
                self.core.stop(graceful, forced).await
            }
        }
    };
}

/// Emits the `Future` and `Debug` impls of a group's `done` future (a struct with the fields
/// `group` and `from`).
macro_rules! done_future {
    (impl[$($gen:tt)*] $ty:ty, $name:literal) => {
        impl<$($gen)*> Future for $ty {
            type Output = ();

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                self.group.core.slots.poll_idle(self.from, cx).map(|_| ())
            }
        }

        impl<$($gen)*> fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name).field("pending", &self.from.is_some()).finish_non_exhaustive()
            }
        }
    };
}
