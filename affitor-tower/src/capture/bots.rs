//! The user agents that are never a click: link previews, crawlers, bots.

use aho_corasick::AhoCorasick;

use super::CaptureClicks;

/// The bot user agent patterns, matched in one pass over a user agent, ignoring ASCII case.
#[derive(Clone, Debug)]
pub(super) struct Bots {
    patterns: Vec<Box<str>>,
    matcher: AhoCorasick,
}

impl Bots {
    /// The built-in patterns.
    pub(super) fn built_in() -> Self {
        let patterns: Vec<Box<str>> = CaptureClicks::BUILT_IN_BOTS
            .iter()
            .map(|&pattern| Box::from(pattern))
            .collect();
        // A few dozen short patterns are far below the automaton's size limits.
        let matcher = Self::matcher(&patterns).expect("the built-in bot patterns build");
        Self { patterns, matcher }
    }

    /// Adds a pattern, unless it is empty.
    pub(super) fn add(&mut self, pattern: String) {
        if pattern.is_empty() {
            return;
        }
        self.patterns.push(pattern.into_boxed_str());
        match Self::matcher(&self.patterns) {
            Ok(matcher) => self.matcher = matcher,
            Err(error) => {
                self.patterns.pop();
                tracing::warn!(%error, "a bot pattern is left out: the automaton is too large");
            }
        }
    }

    fn matcher(patterns: &[Box<str>]) -> Result<AhoCorasick, aho_corasick::BuildError> {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns.iter().map(|pattern| pattern.as_bytes()))
    }

    pub(super) fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether `user_agent` contains a pattern, ignoring ASCII case.
    pub(super) fn is_bot(&self, user_agent: &str) -> bool {
        self.matcher.is_match(user_agent)
    }
}
