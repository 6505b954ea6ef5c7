//! `OutboxCheck`: what [`OutboxBuilder::check`](crate::OutboxBuilder::check) found.

/// What [`OutboxBuilder::check`](crate::OutboxBuilder::check) found at a location, which it
/// left as it was: the location as shown, what its connection was warned of, and whether the
/// outbox is not there yet.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), affitor_outbox::OutboxError> {
/// # if cfg!(not(feature = "sqlite")) { return Ok(()); }
/// let client = affitor::Client::builder().api_key("aff_key").build().unwrap();
/// let path = std::env::temp_dir().join("affitor-outbox-check-doc/a=b.db");
/// let found = affitor_outbox::Outbox::builder(client)
///     .check(path.to_str().unwrap_or("a=b.db"))
///     .await?;
/// assert!(found.is_new());
/// assert!(!path.exists(), "nothing created");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OutboxCheck {
    pub(crate) location: String,
    pub(crate) tls_warning: Option<String>,
    pub(crate) new: bool,
}

impl OutboxCheck {
    /// The location as logs show it, its secrets left out (a SQLite file's path, without
    /// `sqlite:`).
    ///
    /// ```no_run
    /// # fn run(found: affitor_outbox::OutboxCheck) {
    /// println!("{}: schema current", found.location());
    /// # }
    /// ```
    pub fn location(&self) -> &str {
        &self.location
    }

    /// What the outbox would warn of its connection, as
    /// [`Outbox::tls_warning`](crate::Outbox::tls_warning): a Postgres server on another
    /// machine reached below `sslmode=verify-full`. `None` on SQLite.
    ///
    /// ```no_run
    /// # fn run(found: affitor_outbox::OutboxCheck) {
    /// if let Some(warning) = found.tls_warning() {
    ///     eprintln!("{warning}");
    /// }
    /// # }
    /// ```
    pub fn tls_warning(&self) -> Option<&str> {
        self.tls_warning.as_deref()
    }

    /// Whether the outbox is not there yet: a SQLite file that does not exist, which the app's
    /// first start creates (with its folder and tables). Its schema was not checked.
    ///
    /// ```no_run
    /// # fn run(found: affitor_outbox::OutboxCheck) {
    /// if found.is_new() {
    ///     println!("no file yet at {}: the app creates it", found.location());
    /// }
    /// # }
    /// ```
    pub fn is_new(&self) -> bool {
        self.new
    }
}
