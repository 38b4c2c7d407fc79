//! Progress of the long steps of a build (hashing inputs, resolving libraries, compressing
//! layers), reported to whoever asked for it; the library never prints.
//!
//! Owns: the [`Event`]s the library emits and the [`Progress`] trait that receives them. A
//! caller installs a receiver for the duration of a call with [`scope`] (as `tracing`'s
//! `with_default` does), so no signature of the pipeline carries it; outside a scope, and on
//! threads the call spawns, events go nowhere ([`Silent`]).
//! Does not own: drawing bars or printing timings (`cli`).
//! Invariant: an event never changes what is built; a receiver sees `Start`, any number of
//! `Advance`, then `Finish` for each step, on the thread that runs the step.

use std::cell::RefCell;
use std::sync::Arc;

/// A long step of a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Hashing the host files the manifest names (unit: bytes).
    Hash,
    /// Resolving the shared-library closures of the image's ELF files (unit: files).
    Resolve,
    /// Writing one layer: tar, gzip and SHA-256 (unit: uncompressed bytes).
    Layer,
    /// Downloading packages from an archive, or finding them in the cache (unit: bytes).
    Download,
}

impl Step {
    /// How a step is named in progress lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Hash => "hashing",
            Step::Resolve => "resolving",
            Step::Layer => "compressing",
            Step::Download => "downloading",
        }
    }

    /// Whether the step's unit is bytes.
    pub fn counts_bytes(self) -> bool {
        matches!(self, Step::Hash | Step::Layer | Step::Download)
    }
}

/// What a step reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The step begins; `label` says on what (a layer's name, a platform), `total` is in the
    /// step's unit when known.
    Start {
        /// Which step begins.
        step: Step,
        /// On what the step runs (a layer's name, a platform).
        label: &'a str,
        /// The step's size in its unit, when known.
        total: Option<u64>,
    },
    /// `by` more units of the current step are done.
    Advance {
        /// The step that advanced.
        step: Step,
        /// Units done since the last event.
        by: u64,
    },
    /// The step ended: `items` things done (files hashed, objects resolved, entries written)
    /// and `units` of the step's unit in all.
    Finish {
        /// The step that ended.
        step: Step,
        /// Things done: files hashed, objects resolved, entries written.
        items: u64,
        /// The step's units in all.
        units: u64,
    },
    /// A warning about what is being built (`PLATFORM: ` in front when the manifest lists
    /// several), said as soon as it is known, so a run that fails later has still said it.
    Warning(&'a str),
}

/// Receives progress events. Every method has a no-op default.
pub trait Progress {
    /// Receives one event; the default ignores it.
    fn event(&self, _event: Event<'_>) {}
}

/// The receiver that ignores everything: what the library reports to outside a [`scope`].
pub struct Silent;

impl Progress for Silent {}

thread_local! {
    static CURRENT: RefCell<Option<Arc<dyn Progress>>> = const { RefCell::new(None) };
}

/// Runs `f` with `progress` receiving the events it emits on this thread; the previous
/// receiver is back afterwards (also when `f` panics).
pub fn scope<R>(progress: Arc<dyn Progress>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<dyn Progress>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(progress));
    let _restore = Restore(previous);
    f()
}

/// Reports `event` to this thread's receiver, if any.
pub fn emit(event: Event<'_>) {
    let current = CURRENT.with(|c| c.borrow().clone());
    if let Some(p) = current {
        p.event(event);
    }
}

/// A writer that reports the bytes written through it as `Advance` of `step`.
pub(crate) struct Counting<W> {
    inner: W,
    step: Step,
    /// Bytes written and not yet reported (reported in 64 KiB steps).
    pending: u64,
    total: u64,
}

impl<W> Counting<W> {
    pub(crate) fn new(inner: W, step: Step) -> Counting<W> {
        Counting {
            inner,
            step,
            pending: 0,
            total: 0,
        }
    }

    /// The bytes written through it.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    fn report(&mut self) {
        if self.pending > 0 {
            emit(Event::Advance {
                step: self.step,
                by: self.pending,
            });
            self.pending = 0;
        }
    }
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pending += n as u64;
        self.total += n as u64;
        if self.pending >= 64 * 1024 {
            self.report();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.report();
        self.inner.flush()
    }
}

impl<W> Drop for Counting<W> {
    fn drop(&mut self) {
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Record(Mutex<Vec<String>>);
    impl Progress for Record {
        fn event(&self, e: Event<'_>) {
            self.0.lock().unwrap().push(format!("{e:?}"));
        }
    }

    #[test]
    fn scope_delivers_events_and_restores_the_previous_receiver() {
        let r = Arc::new(Record::default());
        emit(Event::Advance {
            step: Step::Hash,
            by: 1,
        });
        scope(r.clone(), || {
            let mut w = Counting::new(Vec::new(), Step::Layer);
            w.write_all(&[0; 10]).unwrap();
            w.flush().unwrap();
        });
        emit(Event::Advance {
            step: Step::Hash,
            by: 2,
        });
        assert_eq!(
            *r.0.lock().unwrap(),
            ["Advance { step: Layer, by: 10 }"],
            "only events inside the scope"
        );
    }
}
