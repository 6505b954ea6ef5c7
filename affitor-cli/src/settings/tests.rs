use std::collections::HashMap;

use super::*;

/// A new directory holding `.affitor/` with the files given (none when `None`).
fn project(dot_env: Option<&str>, config: Option<&str>) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let root = std::env::temp_dir().join(format!(
        "affitor-cli-settings-{}-{nanos}",
        std::process::id()
    ));
    let directory = root.join(DIRECTORY);
    std::fs::create_dir_all(&directory).unwrap();
    if let Some(text) = dot_env {
        std::fs::write(directory.join(".env"), text).unwrap();
    }
    if let Some(text) = config {
        std::fs::write(directory.join("config.json"), text).unwrap();
    }
    root
}

fn resolve(flags: &ApiArgs, environment: &[(&str, &str)], root: &Path) -> Settings {
    let environment: HashMap<String, String> = environment
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let directory = nearest_directory(&root.join("src").join("deep"));
    Settings::resolve(
        flags,
        None,
        |name| environment.get(name).cloned(),
        directory.as_deref(),
    )
}

const CONFIG: &str =
    r#"{"program_id": 42, "api_url": "https://config.example", "api_key": "aff_config"}"#;

#[test]
fn a_flag_wins_then_the_environment_then_dot_env_then_config_json() {
    let root = project(
        Some("# written by npx affitor init\nAFFITOR_API_KEY=\"aff_dotenv\"\n"),
        Some(CONFIG),
    );
    let dot_env = root.join(DIRECTORY).join(".env");
    let config = root.join(DIRECTORY).join("config.json");

    let flags = ApiArgs {
        api_key: Some(SecretArg("aff_flag".to_owned())),
        api_url: None,
    };
    let settings = resolve(&flags, &[("AFFITOR_API_KEY", "aff_env")], &root);
    let key = settings.api_key.unwrap();
    assert_eq!(
        (key.value.as_str(), key.source),
        ("aff_flag", Source::Flag("--api-key"))
    );

    let settings = resolve(
        &ApiArgs::default(),
        &[("AFFITOR_API_KEY", "aff_env")],
        &root,
    );
    let key = settings.api_key.unwrap();
    assert_eq!(key.value, "aff_env");
    assert_eq!(key.source, Source::Environment("AFFITOR_API_KEY"));

    // A blank variable is unset, as the client reads it.
    let settings = resolve(&ApiArgs::default(), &[("AFFITOR_API_KEY", " ")], &root);
    let key = settings.api_key.unwrap();
    assert_eq!(key.value, "aff_dotenv");
    assert_eq!(key.source, Source::DotEnv(dot_env, "AFFITOR_API_KEY"));

    // What `.env` does not hold comes from config.json.
    let url = settings.api_url.unwrap();
    assert_eq!(url.value, "https://config.example");
    assert_eq!(url.source, Source::ConfigJson(config.clone(), "api_url"));
    let program = settings.program_id.unwrap();
    assert_eq!(program.value, "42");
    assert_eq!(program.source, Source::ConfigJson(config, "program_id"));
    assert!(settings.problems.is_empty(), "{:?}", settings.problems);
}

#[test]
fn a_secret_flag_is_never_in_debug_output() {
    let flags = ApiArgs {
        api_key: Some(SecretArg("aff_s3cret".to_owned())),
        api_url: None,
    };
    let debug = format!("{flags:?}");
    assert!(
        !debug.contains("s3cret") && debug.contains("<redacted>"),
        "{debug}"
    );
}

#[test]
fn nothing_set_is_nothing_found() {
    let root = project(None, None);
    let settings = resolve(&ApiArgs::default(), &[], &root);
    assert!(settings.api_key.is_none() && settings.api_url.is_none());
    assert!(settings.program_id.is_none() && settings.problems.is_empty());
    let error = settings.client().unwrap_err();
    assert_eq!(error.kind(), affitor::client::ErrorKind::MissingApiKey);
}

/// A stand-in on another machine of a network the user trusts (`http://mock:4010` in a compose
/// file): refused, with the variable that allows it, and allowed by it.
#[test]
fn plain_http_to_another_machine_is_allowed_by_its_variable_only() {
    let root = project(None, None);
    let remote = [
        ("AFFITOR_API_KEY", "aff_env"),
        ("AFFITOR_API_URL", "http://mock:4010"),
    ];
    let error = resolve(&ApiArgs::default(), &remote, &root)
        .client()
        .unwrap_err();
    assert!(
        error.to_string().contains("AFFITOR_ALLOW_INSECURE_HTTP=1"),
        "{error}"
    );
    let allowed = [remote[0], remote[1], ("AFFITOR_ALLOW_INSECURE_HTTP", "1")];
    let client = resolve(&ApiArgs::default(), &allowed, &root)
        .client()
        .unwrap();
    assert_eq!(client.base_url(), "http://mock:4010");
}

#[test]
fn a_file_that_is_not_json_is_told_and_left_out() {
    let root = project(Some("AFFITOR_PROGRAM_ID=7\n"), Some("{ not json"));
    let settings = resolve(&ApiArgs::default(), &[], &root);
    assert_eq!(settings.program_id.unwrap().value, "7");
    assert!(settings.api_key.is_none());
    assert_eq!(settings.problems.len(), 1, "{:?}", settings.problems);
    assert!(
        settings.problems[0].contains("config.json is not JSON"),
        "{:?}",
        settings.problems
    );
}

#[test]
fn the_key_is_never_shown() {
    let root = project(
        Some("export AFFITOR_API_KEY='aff_s3cret' # the key\n"),
        None,
    );
    let settings = resolve(&ApiArgs::default(), &[], &root);
    assert_eq!(settings.api_key.as_ref().unwrap().value, "aff_s3cret");
    let shown = format!("{settings:?} {}", settings.api_key.as_ref().unwrap().source);
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn dot_env_lines_read_as_a_shell_reads_them() {
    let pairs = parse_dot_env(
        "# comment\n\nexport A=1\nB = \"two # not a comment\"\nC=three # a comment\nD='4'\nnoise\n",
    );
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("A", "1"),
            ("B", "two # not a comment"),
            ("C", "three"),
            ("D", "4")
        ]
    );
}

/// The client is built of the values found, wherever each came from: it reads them as it reads
/// its environment (`ClientBuilder::from_variables`).
#[test]
fn the_client_takes_each_value_from_where_it_was_found() {
    let root = project(None, Some(CONFIG));
    let base_url = |flags: &ApiArgs, environment: &[(&str, &str)]| {
        resolve(flags, environment, &root)
            .client()
            .map(|client| client.base_url().to_owned())
    };
    assert_eq!(
        base_url(&ApiArgs::default(), &[]).unwrap(),
        "https://config.example"
    );
    let alias = [("AFFITOR_API_BASE", "https://alias.example")];
    assert_eq!(
        base_url(&ApiArgs::default(), &alias).unwrap(),
        "https://alias.example"
    );
    let flags = ApiArgs {
        api_key: None,
        api_url: Some("https://flag.example".to_owned()),
    };
    assert_eq!(base_url(&flags, &alias).unwrap(), "https://flag.example");
}

const EVIL: &str = r#"{"api_url": "https://evil.example", "program_id": 42}"#;

/// A cloned repository's `.affitor/` names the API only for its own key: with the key of the
/// environment or a flag, its URL is left out (the key goes to the default API), and said.
#[test]
fn a_files_url_never_takes_a_key_from_elsewhere() {
    let root = project(Some("AFFITOR_API_URL=https://evil.example\n"), Some(EVIL));
    let dot_env = root.join(DIRECTORY).join(".env");
    let flags = ApiArgs {
        api_key: Some(SecretArg("aff_flag".to_owned())),
        api_url: None,
    };
    let from_env = [("AFFITOR_API_KEY", "aff_env")];
    for (flags, environment, key) in [
        (&ApiArgs::default(), &from_env[..], "AFFITOR_API_KEY"),
        (&flags, &[][..], "--api-key"),
    ] {
        let settings = resolve(flags, environment, &root);
        assert_eq!(settings.api_url, None, "{key}");
        let ignored = settings.ignored_api_url.as_ref().unwrap();
        assert_eq!(
            ignored.source,
            Source::DotEnv(dot_env.clone(), "AFFITOR_API_URL")
        );
        let client = settings.client().unwrap();
        assert_eq!(client.base_url(), "https://api.affitor.com");
        let warning = settings.ignored_api_url_warning().unwrap();
        for words in [
            dot_env.to_str().unwrap(),
            "https://evil.example",
            &format!("the API key comes from {key}"),
            "--api-url",
        ] {
            assert!(warning.contains(words), "{words}: {warning}");
        }
        // The program id is no secret's destination: still taken.
        assert_eq!(settings.program_id.unwrap().value, "42");
    }

    // config.json's alone, the same.
    let root = project(None, Some(EVIL));
    let settings = resolve(&ApiArgs::default(), &from_env, &root);
    let config = root.join(DIRECTORY).join("config.json");
    assert_eq!(
        settings.ignored_api_url.unwrap().source,
        Source::ConfigJson(config, "api_url")
    );
    assert_eq!(settings.api_url, None);

    // The flag and the environment still name any URL.
    let env_url = [from_env[0], ("AFFITOR_API_URL", "https://staging.example")];
    let settings = resolve(&ApiArgs::default(), &env_url, &root);
    assert_eq!(settings.api_url.unwrap().value, "https://staging.example");
    assert!(settings.ignored_api_url.is_none());
}

/// A file's URL left out is said with its password as `***`: `doctor`'s line, the warning.
#[test]
fn a_files_url_left_out_is_said_without_its_password() {
    let config = r#"{"api_url": "https://user:s3cr3tPW@evil.example"}"#;
    let root = project(None, Some(config));
    let settings = resolve(
        &ApiArgs::default(),
        &[("AFFITOR_API_KEY", "aff_env")],
        &root,
    );
    let ignored = settings.ignored_api_url.as_ref().unwrap();
    assert_eq!(ignored.value, "https://user:***@evil.example");
    let warning = settings.ignored_api_url_warning().unwrap();
    assert!(!warning.contains("s3cr3tPW"), "{warning}");
    assert!(
        warning.contains("(https://user:***@evil.example)"),
        "{warning}"
    );
}

/// The key of the same `.affitor/` goes with its URL; a file naming the default API, or a URL
/// with no key at all to send, is said nothing of.
#[test]
fn a_files_url_goes_with_its_own_key() {
    let root = project(Some("AFFITOR_API_KEY=aff_dotenv\n"), Some(EVIL));
    let settings = resolve(&ApiArgs::default(), &[], &root);
    assert_eq!(settings.api_url.unwrap().value, "https://evil.example");
    assert!(settings.ignored_api_url.is_none());

    let default = r#"{"api_url": "https://api.affitor.com/"}"#;
    let root = project(None, Some(default));
    let settings = resolve(
        &ApiArgs::default(),
        &[("AFFITOR_API_KEY", "aff_env")],
        &root,
    );
    assert!(settings.ignored_api_url_warning().is_none());

    let root = project(None, Some(EVIL));
    let settings = resolve(&ApiArgs::default(), &[], &root);
    assert!(settings.ignored_api_url_warning().is_none());
}
