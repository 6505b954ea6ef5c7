//! What the readiness verdict says, in the words the commands print: what each `next_action`
//! asks, and the state (the gates' and states' names are the core's `as_str`).

use affitor::readiness::Readiness;

/// What a gate's `next_action` asks, in words, with the code itself.
pub(crate) fn next_action(action: &str, endpoint: Option<&str>) -> String {
    let words = match action {
        "complete_program_profile" => {
            "complete the program's profile in the Affitor dashboard".to_owned()
        }
        "set_commission_policy" => "set a commission policy in the Affitor dashboard".to_owned(),
        "surface_stripe_connect_url" => match endpoint {
            Some(endpoint) => format!("connect payouts with Stripe: {endpoint}"),
            None => "connect payouts with Stripe in the Affitor dashboard".to_owned(),
        },
        "install_tracker_or_send_events" => {
            "install the tracker script on your pages, or send a click, lead or sale".to_owned()
        }
        "run_synthetic_sale_chain" => "run `affitor test chain`".to_owned(),
        _ => return format!("next_action: {action}"),
    };
    format!("{words} (next_action: {action})")
}

/// The readiness state, as the API writes it; `unknown` when it wrote none.
pub(crate) fn state_name(readiness: &Readiness) -> &str {
    match readiness.state.as_str() {
        "" => "unknown",
        state => state,
    }
}
