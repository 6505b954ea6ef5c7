//! The readiness answer decoded, and the API's words of its states, gates and verdicts.

use super::*;

/// Readiness read from a JSON object, as the transport does.
pub(super) fn read_readiness(body: &str) -> Readiness {
    let answer = Answer {
        status: http::StatusCode::OK,
        body: Bytes::from(body.to_owned()),
        after_uncertain_attempt: false,
    };
    ReadinessRead {
        force_recheck: false,
    }
    .decode(&answer, "")
    .unwrap()
}

const OA_EXAMPLE: &str = r#"{
    "program_id": 42,
    "state": "integration_verified",
    "integration_verified": true,
    "blocker": null,
    "gates": {
        "profile": { "status": "pass" },
        "economics": { "status": "pass" },
        "payout": { "status": "pass", "mode": "stripe" },
        "tracking": { "status": "pass", "detail": "receiving_events", "checked_at": "2026-06-11T00:00:00.000Z" },
        "live": { "status": "pass", "test_chain": { "click": "attributed", "lead": "attributed", "sale": "attributed" } }
    },
    "last_event_at": { "click": null, "lead": null, "sale": "2026-06-10T00:00:00.000Z" },
    "counts_24h": { "clicks": 3, "leads": 2, "sales": 1 },
    "key_rotated_at": null,
    "poll": { "retry_after_seconds": 5 }
}"#;

#[test]
fn decodes_the_openapi_example() {
    let readiness = read_readiness(OA_EXAMPLE);
    assert_eq!(readiness.program_id, Some(42));
    assert_eq!(readiness.state, ReadinessState::IntegrationVerified);
    assert!(readiness.integration_verified);
    assert_eq!(readiness.blocker, None);
    assert_eq!(readiness.gates.payout.mode.as_deref(), Some("stripe"));
    assert_eq!(
        readiness.gates.tracking.detail.as_deref(),
        Some("receiving_events")
    );
    assert!(
        readiness
            .gates
            .live
            .test_chain
            .as_ref()
            .unwrap()
            .all_attributed()
    );
    assert_eq!(readiness.last_event_at.click, None);
    assert_eq!(
        readiness.last_event_at.sale.as_deref(),
        Some("2026-06-10T00:00:00.000Z")
    );
    assert_eq!(readiness.counts_24h.clicks, 3);
    assert_eq!(readiness.poll_interval, Duration::from_secs(5));
    assert_eq!(readiness.blocking_gate(), None);
}

#[test]
fn accepts_the_data_envelope_and_unknown_values() {
    let body = r#"{"data":{"program_id":7,"state":"wiring","integration_verified":false,
        "blocker":"payout","gates":{"profile":{"status":"pass"},"economics":{"status":"pass"},
        "payout":{"status":"fail","mode":"s2s","next_action":"surface_stripe_connect_url"},
        "tracking":{"status":"maybe"}},"poll":{"retry_after_seconds":2}}}"#;
    let readiness = read_readiness(body);
    assert_eq!(readiness.program_id, Some(7));
    assert_eq!(readiness.state, ReadinessState::Other("wiring".into()));
    assert_eq!(readiness.blocker, Some(Gate::Payout));
    assert_eq!(readiness.gates.payout.mode.as_deref(), Some("s2s"));
    assert_eq!(
        readiness.gates.tracking.status,
        GateStatus::Other("maybe".into())
    );
    assert_eq!(readiness.gates.live, GateReport::default());
    assert_eq!(readiness.poll_interval, Duration::from_secs(2));
    let (gate, report) = readiness.blocking_gate().unwrap();
    assert_eq!(gate, Gate::Payout);
    assert_eq!(
        report.next_action.as_deref(),
        Some("surface_stripe_connect_url")
    );
}

#[test]
fn missing_fields_default() {
    let readiness = read_readiness("{}");
    assert_eq!(readiness.state, ReadinessState::Other(String::new()));
    assert!(!readiness.integration_verified);
    assert_eq!(readiness.counts_24h, EventCounts::default());
    assert_eq!(readiness.poll_interval, Duration::from_secs(5));
    // No blocker named: the first gate that does not pass.
    assert_eq!(readiness.blocking_gate().unwrap().0, Gate::Profile);
    // An answer that is not a JSON object is not the API's.
    let answer = Answer {
        status: http::StatusCode::OK,
        body: Bytes::from_static(b"null"),
        after_uncertain_attempt: false,
    };
    let read = ReadinessRead {
        force_recheck: false,
    };
    assert_eq!(
        read.decode(&answer, "").unwrap_err().kind(),
        crate::client::ErrorKind::Decode
    );
    // The state alone implies verification.
    let verified = read_readiness(r#"{"state": "live_verified"}"#);
    assert!(verified.integration_verified);
    // A named blocker that is unknown falls back to the first failing gate.
    let odd = read_readiness(
        r#"{
        "blocker": "legal",
        "gates": {"profile": {"status": "pass"}, "economics": {"status": "fail"}}
    }"#,
    );
    assert_eq!(odd.blocker, Some(Gate::Other("legal".into())));
    assert_eq!(odd.blocking_gate().unwrap().0, Gate::Economics);
}

#[test]
fn each_value_is_written_in_the_words_it_was_read_from() {
    for word in [
        "draft",
        "configuring",
        "ready",
        "integration_verified",
        "live_verified",
    ] {
        let state = ReadinessState::parse(word);
        assert!(!matches!(state, ReadinessState::Other(_)), "{word}");
        assert_eq!(state.as_str(), word);
        assert_eq!(state.to_string(), word);
    }
    for word in ["profile", "economics", "payout", "tracking", "live"] {
        let gate = Gate::parse(word);
        assert!(!matches!(gate, Gate::Other(_)), "{word}");
        assert_eq!(gate.as_str(), word);
    }
    for word in ["pass", "fail", "unknown"] {
        let status = GateStatus::parse(word);
        assert!(!matches!(status, GateStatus::Other(_)), "{word}");
        assert_eq!(status.as_str(), word);
    }
    for word in ["attributed", "unattributed", "wrong_partner", "pending"] {
        let verdict = StepVerdict::parse(word);
        assert!(!matches!(verdict, StepVerdict::Other(_)), "{word}");
        assert_eq!(verdict.as_str(), word);
    }
    // What this version does not know is written as the API wrote it.
    assert_eq!(ReadinessState::parse("wiring").as_str(), "wiring");
    assert_eq!(Gate::parse("legal").to_string(), "legal");
    assert_eq!(GateStatus::parse("maybe").as_str(), "maybe");
    assert_eq!(StepVerdict::parse("later").as_str(), "later");
    // No state at all is empty, and Display pads as `str` does.
    assert_eq!(read_readiness("{}").state.as_str(), "");
    assert_eq!(format!("[{:<8}]", Gate::Live), "[live    ]");
}
