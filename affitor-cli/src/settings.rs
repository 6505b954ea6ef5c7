//! The CLI's settings: the API key, the API URL and the program id, each taken from the first
//! place that has it: a flag (`--api-key`, `--api-url`, `--program-id`), the environment
//! (`AFFITOR_API_KEY`, `AFFITOR_API_URL` or `AFFITOR_API_BASE`, `AFFITOR_PROGRAM_ID`), then the
//! files Affitor's Node CLI (`npx affitor init`) writes: `.affitor/.env` (the same variables),
//! then `.affitor/config.json` (`api_key`, `api_url`, `program_id`), in the nearest `.affitor`
//! directory of the current directory or its parents. Each value keeps where it came from, for
//! `doctor`; the key is never shown.
//!
//! A file's API URL is taken only with the key of the same `.affitor/`: a cloned repository's
//! file must not send a key from the flag or the environment to a host of its choosing. Then
//! the URL is left out (the key goes to the default API, which issued it), with a warning.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use affitor::Client;
use affitor::client::{ClientBuilder, RetryPolicy};
use clap::Args;
use serde_json::Value;

use crate::output::redact_url_credentials;

/// The variable of the program API key.
pub(crate) const API_KEY_VARIABLE: &str = "AFFITOR_API_KEY";
/// The variable of the API's base URL, and the older name the client also reads.
const API_URL_VARIABLES: [&str; 2] = ["AFFITOR_API_URL", "AFFITOR_API_BASE"];
/// The variable of the program id.
const PROGRAM_ID_VARIABLE: &str = "AFFITOR_PROGRAM_ID";
/// The variable that allows plain `http://` to a host that is not loopback, as the client's
/// `ClientBuilder::from_env` reads it.
const INSECURE_HTTP_VARIABLE: &str = "AFFITOR_ALLOW_INSECURE_HTTP";
/// The directory `npx affitor init` writes in a project.
const DIRECTORY: &str = ".affitor";
/// The API the client talks to when no URL is given: where a program key was issued.
const DEFAULT_API_URL: &str = "https://api.affitor.com";

/// The flags that name the API, beside the environment and `.affitor/`.
#[derive(Debug, Default, Args)]
pub(crate) struct ApiArgs {
    /// The program API key (aff_...). Other users of this machine can read a command line:
    /// prefer AFFITOR_API_KEY or `.affitor/.env`.
    #[arg(long, global = true, value_name = "KEY")]
    api_key: Option<SecretArg>,
    /// The API's base URL (default https://api.affitor.com).
    #[arg(long, global = true, value_name = "URL")]
    api_url: Option<String>,
}

/// A secret given on the command line (`--api-key`, `--secret`): never in `Debug` output.
#[derive(Clone)]
pub(crate) struct SecretArg(String);

impl SecretArg {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(Self(secret.to_owned()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A command-line flag, such as `--api-key`.
    Flag(&'static str),
    /// An environment variable.
    Environment(&'static str),
    /// A variable of `.affitor/.env`.
    DotEnv(PathBuf, &'static str),
    /// A key of `.affitor/config.json`.
    ConfigJson(PathBuf, &'static str),
}

impl Source {
    /// Whether it is a file of `.affitor/`.
    fn is_file(&self) -> bool {
        matches!(self, Self::DotEnv(..) | Self::ConfigJson(..))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::Environment(variable) => write!(f, "{variable}"),
            Self::DotEnv(path, variable) => write!(f, "{variable} in {}", path.display()),
            Self::ConfigJson(path, key) => write!(f, "`{key}` in {}", path.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) value: String,
    pub(crate) source: Source,
}

// The value may be the API key: only its source is shown.
impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The settings found, and what could not be read on the way.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    pub(crate) api_key: Option<Setting>,
    pub(crate) api_url: Option<Setting>,
    pub(crate) program_id: Option<Setting>,
    /// `AFFITOR_ALLOW_INSECURE_HTTP`, read by the client as `ClientBuilder::from_env` reads it.
    insecure_http: Option<Setting>,
    /// A file of `.affitor/` that could not be read, and why (its values are left out).
    pub(crate) problems: Vec<String>,
    /// The API URL of a file of `.affitor/`, left out because the key came from elsewhere: only
    /// said, never sent, so its password, if any, is kept as `***`.
    pub(crate) ignored_api_url: Option<Setting>,
}

impl Settings {
    /// The settings of `flags`, the environment and the nearest `.affitor/` directory; a file's
    /// API URL left out is warned of on stderr.
    pub(crate) fn load(flags: &ApiArgs, program_id: Option<&str>) -> Self {
        let settings = Self::read(flags, program_id);
        if let Some(warning) = settings.ignored_api_url_warning() {
            crate::output::warning(&warning);
        }
        settings
    }

    /// The settings of the environment and `.affitor/` alone, with no flags, and no warning:
    /// the outbox's client, which never sends (the command's own `load` warns).
    pub(crate) fn from_environment() -> Self {
        Self::read(&ApiArgs::default(), None)
    }

    fn read(flags: &ApiArgs, program_id: Option<&str>) -> Self {
        let directory = std::env::current_dir()
            .ok()
            .and_then(|dir| nearest_directory(&dir));
        Self::resolve(
            flags,
            program_id,
            |name| std::env::var(name).ok(),
            directory.as_deref(),
        )
    }

    /// What to say of a file's API URL left out: which, where, why, and what to do.
    pub(crate) fn ignored_api_url_warning(&self) -> Option<String> {
        let (url, key) = (self.ignored_api_url.as_ref()?, self.api_key.as_ref()?);
        Some(format!(
            "ignored {} ({}): the API key comes from {}, not from that .affitor directory, and a \
             project's file does not choose where that key is sent; it goes to {DEFAULT_API_URL}. \
             To use that URL, pass --api-url or set {}, or keep the key in that directory's \
             .env",
            url.source, url.value, key.source, API_URL_VARIABLES[0]
        ))
    }

    fn resolve(
        flags: &ApiArgs,
        program_id: Option<&str>,
        environment: impl Fn(&str) -> Option<String>,
        directory: Option<&Path>,
    ) -> Self {
        let mut settings = Self::default();
        let files = directory
            .map(|directory| Files::read(directory, &mut settings.problems))
            .unwrap_or_default();
        let flag = |value: Option<&str>, name: &'static str| {
            present(value.map(str::to_owned)).map(|value| Setting {
                value,
                source: Source::Flag(name),
            })
        };
        let from_environment = |variables: &[&'static str]| {
            variables.iter().find_map(|&variable| {
                present(environment(variable)).map(|value| Setting {
                    value,
                    source: Source::Environment(variable),
                })
            })
        };
        settings.api_key = flag(flags.api_key.as_ref().map(SecretArg::expose), "--api-key")
            .or_else(|| from_environment(&[API_KEY_VARIABLE]))
            .or_else(|| files.find(&[API_KEY_VARIABLE], &["api_key", "apiKey"]));
        settings.api_url = flag(flags.api_url.as_deref(), "--api-url")
            .or_else(|| from_environment(&API_URL_VARIABLES))
            .or_else(|| files.find(&API_URL_VARIABLES, &["api_url", "apiUrl"]));
        // A file's URL goes with its own directory's key only: a cloned repository's
        // `"api_url": "https://evil.example"` would otherwise receive the key of the flag or the
        // environment as a bearer token.
        let key_from_files = settings
            .api_key
            .as_ref()
            .is_some_and(|key| key.source.is_file());
        if let Some(url) = settings
            .api_url
            .take_if(|url| url.source.is_file() && !key_from_files)
            && !is_default_api(&url.value)
        {
            settings.ignored_api_url = Some(Setting {
                value: redact_url_credentials(&url.value).into_owned(),
                ..url
            });
        }
        settings.program_id = flag(program_id, "--program-id")
            .or_else(|| from_environment(&[PROGRAM_ID_VARIABLE]))
            .or_else(|| files.find(&[PROGRAM_ID_VARIABLE], &["program_id", "programId"]));
        settings.insecure_http = from_environment(&[INSECURE_HTTP_VARIABLE]);
        settings
    }

    /// The client of these settings (see [`builder`](Self::builder)).
    ///
    /// # Errors
    ///
    /// `MissingApiKey` when no key was found, and the errors of `ClientBuilder::build`.
    pub(crate) fn client(&self) -> Result<Client, affitor::Error> {
        self.builder().build()
    }

    /// A client builder of these settings, read as the client reads its environment, with the
    /// CLI's user agent and retries that keep a person waiting seconds, not minutes.
    pub(crate) fn builder(&self) -> ClientBuilder {
        let mut builder = ClientBuilder::from_variables(|name| self.variable(name))
            .user_agent(concat!("affitor-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10))
            .retry(
                RetryPolicy::default()
                    .max_attempts(3)
                    .deadline(Duration::from_secs(25)),
            );
        if let Some(program_id) = &self.program_id {
            builder = builder.program_id(&program_id.value);
        }
        builder
    }

    /// The value found for one of the variables `ClientBuilder::from_variables` reads: a
    /// flag's, the environment's or a file's.
    fn variable(&self, name: &str) -> Option<String> {
        let setting = match name {
            API_KEY_VARIABLE => &self.api_key,
            name if name == API_URL_VARIABLES[0] => &self.api_url,
            INSECURE_HTTP_VARIABLE => &self.insecure_http,
            _ => return None,
        };
        setting.as_ref().map(|setting| setting.value.clone())
    }
}

/// What to do when no API key was found, in the CLI's words.
pub(crate) fn missing_key_fix() -> String {
    format!(
        "pass --api-key, set {API_KEY_VARIABLE}, or run `npx affitor init` (it writes \
         .affitor/.env) with the program API key (aff_..., from Program Settings); to try \
         without an account, run `affitor mock` and export the two variables it prints"
    )
}

/// Whether `url` is the default API's, as the client reads a base URL (a trailing `/` ignored).
fn is_default_api(url: &str) -> bool {
    url.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(DEFAULT_API_URL)
}

/// The value, unless it is missing or blank; trimmed.
fn present(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The `.affitor` directory in `start` or the nearest of its parents.
fn nearest_directory(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(DIRECTORY))
        .find(|candidate| candidate.is_dir())
}

/// What `.affitor/.env` and `.affitor/config.json` hold.
#[derive(Debug, Default)]
struct Files {
    dot_env: Option<(PathBuf, Vec<(String, String)>)>,
    config: Option<(PathBuf, serde_json::Map<String, Value>)>,
}

impl Files {
    /// Reads both files of `directory`; one that is missing is no problem, one that cannot be
    /// read is told in `problems` and left out.
    fn read(directory: &Path, problems: &mut Vec<String>) -> Self {
        let mut files = Self::default();
        let path = directory.join(".env");
        match std::fs::read_to_string(&path) {
            Ok(text) => files.dot_env = Some((path, parse_dot_env(&text))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => problems.push(format!("cannot read {}: {error}", path.display())),
        }
        let path = directory.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(object)) => files.config = Some((path, object)),
                Ok(_) => problems.push(format!("{} is not a JSON object", path.display())),
                Err(error) => problems.push(format!("{} is not JSON: {error}", path.display())),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => problems.push(format!("cannot read {}: {error}", path.display())),
        }
        files
    }

    /// The first of `variables` in `.env`, else the first of `keys` in `config.json`.
    fn find(&self, variables: &[&'static str], keys: &[&'static str]) -> Option<Setting> {
        let from_env = self.dot_env.as_ref().and_then(|(path, pairs)| {
            variables.iter().find_map(|&variable| {
                let value = pairs.iter().rev().find(|(name, _)| name == variable)?;
                present(Some(value.1.clone())).map(|value| Setting {
                    value,
                    source: Source::DotEnv(path.clone(), variable),
                })
            })
        });
        from_env.or_else(|| {
            let (path, object) = self.config.as_ref()?;
            keys.iter().find_map(|&key| {
                let value = match object.get(key)? {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => return None,
                };
                present(Some(value)).map(|value| Setting {
                    value,
                    source: Source::ConfigJson(path.clone(), key),
                })
            })
        })
    }
}

/// The `NAME=value` lines of a `.env` file: `export` before a name, `#` comments and blank
/// lines allowed, a value in single or double quotes unquoted.
fn parse_dot_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            let value = value.trim();
            let value = match value.chars().next() {
                Some(quote @ ('"' | '\'')) => value[1..].split(quote).next().unwrap_or_default(),
                // An unquoted value ends at a comment.
                _ => value.split(" #").next().unwrap_or_default(),
            };
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
