//! The lines the Affitor crates log at `warn` and above during a run, counted rather than
//! written: what an overload puts in an app's log (it was once a line per dropped event).

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{Event, Level, Metadata, span};

static LINES: AtomicU64 = AtomicU64::new(0);

/// Counts the events of the `affitor*` targets at `warn` and above; takes no spans.
struct WarnLines;

impl tracing::Subscriber for WarnLines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && *metadata.level() <= Level::WARN
            && metadata.target().starts_with("affitor")
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {
        LINES.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// Installs the counter for the whole process (once; a second call changes nothing).
pub(crate) fn count_warn_lines() {
    let _ = tracing::subscriber::set_global_default(WarnLines);
}

/// The lines counted so far.
pub(crate) fn warn_lines() -> u64 {
    LINES.load(Ordering::Relaxed)
}
