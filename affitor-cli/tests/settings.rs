//! Where `affitor` finds the API key, the API URL and the program id, run as a person runs it
//! against the stand-in API on 127.0.0.1: flags, the environment, and the `.affitor/.env` and
//! `.affitor/config.json` that Affitor's Node CLI (`npx affitor init`) writes.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::process::Output;

use affitor_mock::MockServer;
use serde_json::Value;
use support::{TempDir, affitor_in};

/// The one JSON document a `--json` run prints.
fn document(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|line| line.starts_with('{'));
    serde_json::from_str(line.unwrap_or_else(|| panic!("no document: {output:?}"))).unwrap()
}

/// A new project directory, with `.affitor/` holding the files given, and a `src/` below it.
fn project(name: &str, files: &[(&str, String)]) -> TempDir {
    let root = TempDir::new(name);
    std::fs::create_dir_all(root.path().join("src")).unwrap();
    if !files.is_empty() {
        std::fs::create_dir_all(root.path().join(".affitor")).unwrap();
    }
    for (file, text) in files {
        std::fs::write(root.path().join(".affitor").join(file), text).unwrap();
    }
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_set_up_by_the_node_cli_needs_nothing_more() {
    let mock = MockServer::start().await.unwrap();
    let dot_env = format!(
        "AFFITOR_API_KEY={}\nAFFITOR_API_URL={}\n",
        mock.api_key(),
        mock.url()
    );
    let config = format!(r#"{{"program_id": {}}}"#, mock.program_id());
    let root = project(
        "node-cli",
        &[(".env", dot_env), ("config.json", config.clone())],
    );
    // Run from a subdirectory: the nearest parent's `.affitor/` is found.
    let dir = root.path().join("src");

    let click = affitor_in(&dir, &["test", "click", "--json"], &[]).await;
    assert!(click.status.success(), "{click:?}");
    assert_eq!(document(&click)["outcome"], "test");
    let clicks = mock.clicks();
    assert!(clicks.iter().all(|click| click.test), "{clicks:?}");
    assert_eq!(clicks.len(), 1, "{clicks:?}");

    let lead = affitor_in(&dir, &["test", "lead", "--json"], &[]).await;
    assert!(lead.status.success(), "{lead:?}");

    let doctor = affitor_in(&dir, &["doctor", "--json"], &[]).await;
    let result = document(&doctor);
    let check = |name: &str| {
        let checks = result["checks"].as_array().unwrap();
        let found = checks.iter().find(|check| check["name"] == name);
        found
            .unwrap_or_else(|| panic!("no {name}: {result}"))
            .clone()
    };
    let key = check("API key");
    assert_eq!(key["status"], "pass", "{key}");
    let detail = key["detail"].as_str().unwrap();
    assert!(detail.contains("AFFITOR_API_KEY in "), "{key}");
    assert!(detail.contains(".affitor/.env"), "{key}");
    assert!(!result.to_string().contains(mock.api_key()), "{result}");
    let program = check("program id");
    let detail = program["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("{}, from `program_id` in ", mock.program_id())));
    assert!(detail.ends_with("config.json"), "{program}");
    assert_eq!(check("API reachable")["status"], "pass");

    // The environment comes before the files: a wrong key there is the one used (with the
    // environment's URL: a file's URL never takes a key from elsewhere).
    let env = [
        ("AFFITOR_API_KEY", "aff_wrong"),
        ("AFFITOR_API_URL", mock.url()),
    ];
    let refused = affitor_in(&dir, &["test", "lead", "--json"], &env).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert_eq!(document(&refused)["error"]["kind"], "Unauthorized");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_come_before_the_environment() {
    let mock = MockServer::start().await.unwrap();
    let root = project("flags", &[]);
    let env = [
        ("AFFITOR_API_KEY", "aff_wrong"),
        ("AFFITOR_API_URL", "http://127.0.0.1:9"),
    ];
    let flags = ["--api-key", mock.api_key(), "--api-url", mock.url()];
    let args: Vec<&str> = ["test", "lead", "--json"]
        .into_iter()
        .chain(flags)
        .collect();
    let lead = affitor_in(root.path(), &args, &env).await;
    assert!(lead.status.success(), "{lead:?}");
    assert_eq!(document(&lead)["outcome"], "test");
    assert_eq!(mock.leads().len(), 1);
    mock.shutdown().await;
}

/// A key refused when it came from `--api-key`: the error does not send the user to
/// `AFFITOR_API_KEY`, which holds a key that was not used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_of_the_flag_is_not_blamed_on_the_environment() {
    let mock = MockServer::start().await.unwrap();
    let root = project("refused-flag", &[]);
    let env = [
        ("AFFITOR_API_KEY", mock.api_key()),
        ("AFFITOR_API_URL", mock.url()),
    ];
    let run = affitor_in(
        root.path(),
        &["test", "lead", "--api-key", "aff_wrong_key"],
        &env,
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(text.contains("refused the API key"), "{text}");
    assert!(!text.contains("AFFITOR_API_KEY"), "{text}");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_set_says_where_a_key_goes_and_offers_the_stand_in() {
    let root = project("nothing", &[]);
    let run = affitor_in(root.path(), &["test", "lead"], &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    for words in [
        "--api-key",
        "AFFITOR_API_KEY",
        ".affitor/.env",
        "affitor mock",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    // The CLI speaks of its own flags and files, not of the library's calls.
    assert!(!text.contains("ClientBuilder"), "{text}");

    let click = affitor_in(root.path(), &["test", "click", "--api-key", "aff_x"], &[]).await;
    assert_eq!(click.status.code(), Some(1), "{click:?}");
    let text = String::from_utf8_lossy(&click.stdout).into_owned();
    assert!(text.contains("no program id"), "{text}");
    assert!(text.contains("AFFITOR_PROGRAM_ID"), "{text}");

    let doctor = affitor_in(root.path(), &["doctor"], &[]).await;
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(text.contains("affitor mock"), "{text}");
}

/// A cloned repository whose `.affitor/config.json` names another API: with the key of the
/// environment, the file's URL is left out, and stderr says which file and why (the command's
/// one document still alone on stdout).
#[tokio::test]
async fn a_projects_url_is_ignored_for_a_key_of_the_environment() {
    let config = r#"{"api_url": "https://evil.example"}"#.to_owned();
    let root = project("evil-url", &[("config.json", config)]);
    let env = [("AFFITOR_API_KEY", "aff_live")];
    // `test click` with no program id refuses before it sends anything.
    let run = affitor_in(root.path(), &["test", "click", "--json"], &env).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("warning: ignored `api_url` in "),
        "{stderr}"
    );
    assert!(stderr.contains(".affitor/config.json"), "{stderr}");
    assert!(stderr.contains("https://evil.example"), "{stderr}");
    assert!(stderr.contains("AFFITOR_API_KEY"), "{stderr}");
    assert!(!stderr.contains("aff_live"), "{stderr}");
    assert_eq!(document(&run)["command"], "test click");
}

/// The file's URL left out is said with its password as `***`.
#[tokio::test]
async fn a_projects_url_left_out_is_said_without_its_password() {
    let config = r#"{"api_url": "https://user:s3cr3tPW@evil.example"}"#.to_owned();
    let root = project("evil-url-password", &[("config.json", config)]);
    let env = [("AFFITOR_API_KEY", "aff_live")];
    let run = affitor_in(root.path(), &["test", "click", "--json"], &env).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let said = String::from_utf8_lossy(&run.stderr) + String::from_utf8_lossy(&run.stdout);
    assert!(!said.contains("s3cr3tPW"), "{said}");
    assert!(said.contains("(https://user:***@evil.example)"), "{said}");
}

/// A `.affitor/config.json` that is not JSON is named by `status`, as by `doctor`: it explains
/// the key missing below it.
#[tokio::test]
async fn status_names_a_settings_file_it_cannot_read() {
    let root = project(
        "broken-config",
        &[("config.json", "{\"api_key\": \"aff_x\",}".into())],
    );
    let status = affitor_in(root.path(), &["status"], &[]).await;
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(text.contains("! settings"), "{text}");
    assert!(text.contains(".affitor/config.json"), "{text}");

    let status = affitor_in(root.path(), &["status", "--json"], &[]).await;
    let problems = &document(&status)["settings_problems"];
    assert_eq!(problems.as_array().map(Vec::len), Some(1), "{problems}");
}

/// A key that cannot be sent in a header fails `doctor`'s key check and `status` with a fix
/// for the key, not for the URL (which is fine).
#[tokio::test]
async fn a_malformed_key_is_blamed_not_the_url() {
    let root = project("malformed-key", &[]);
    let env = [("AFFITOR_API_KEY", "aff_live_abc def\n")];
    let doctor = affitor_in(root.path(), &["doctor", "--json"], &env).await;
    let checks = &document(&doctor)["checks"];
    let check = |name: &str| {
        checks
            .as_array()
            .and_then(|checks| checks.iter().find(|check| check["name"] == name))
            .cloned()
    };
    let key = check("API key").unwrap_or_else(|| panic!("no key check: {checks}"));
    assert_eq!(key["status"], "fail", "{key}");
    assert!(key["fix"].as_str().unwrap().contains("API key"), "{key}");
    assert_eq!(check("API URL"), None, "{checks}");

    let status = affitor_in(root.path(), &["status"], &env).await;
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(text.contains("copy the program API key again"), "{text}");
    assert!(!text.contains("AFFITOR_API_URL"), "{text}");
}
