//! What AGS Platform's answers to a grant mean. The body is read whole (up to a limit) and
//! parsed: a fulfillment is granted only when Platform says `FULFILLED` (docs/decisions.md, "A
//! grant is granted only when Platform says `FULFILLED`").

use reqwest::StatusCode;
use serde::Deserialize;
use store::Delivery;

use super::GrantOutcome;

/// The most of an answer's body read (a longer one is cut there and does not parse).
const MAX_BODY: usize = 1 << 20;

/// Sends `call` and reads the whole answer (up to `MAX_BODY`).
pub(super) async fn exchange(
    call: reqwest::RequestBuilder,
) -> Result<(StatusCode, String), GrantOutcome> {
    let mut response = match call.send().await {
        Ok(response) => response,
        // Not connected: the request never left. Anything else (a timeout, a reset
        // connection) may have been received and applied.
        Err(err) if err.is_connect() => {
            return Err(GrantOutcome::NotSent(format!("Platform request: {err}")));
        }
        Err(err) => return Err(GrantOutcome::Unknown(format!("Platform request: {err}"))),
    };
    let status = response.status();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => break, // too long: what was read will not parse
            Ok(None) => break,
            Err(err) => {
                return Err(GrantOutcome::Unknown(format!(
                    "Platform answered {status} but its body was cut off: {err}"
                )));
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A body for a message: its first 300 characters.
pub(super) fn shown(body: &str) -> String {
    let mut shown: String = body.chars().take(300).collect();
    if shown.len() < body.len() {
        shown.push('…');
    }
    shown
}

/// The parts of Platform's `FulfillmentV2Result` (and its `ErrorEntity`) a grant depends on.
#[derive(Deserialize)]
struct FulfillmentAnswer {
    #[serde(default)]
    state: Option<String>,
    #[serde(default, rename = "errorCode")]
    error_code: Option<serde_json::Value>,
}

/// What an answer means: an outcome, or a fulfillment Platform holds as failed.
pub(super) enum Answer {
    Done(GrantOutcome),
    Failed(String),
}

/// Platform's error code for "the transaction id was fulfilled with other items".
const OTHER_PAYLOAD: &str = "38128";

/// What Platform's answer to a grant means. The body is read whole: a fulfillment is granted
/// only when it says `"state": "FULFILLED"`.
pub(super) fn classify(status: StatusCode, body: &str, delivery: Delivery) -> Answer {
    let fulfillment = delivery == Delivery::Fulfillment;
    let parsed = serde_json::from_str::<FulfillmentAnswer>(body);
    let message = || format!("Platform answered {status}: {}", shown(body));
    if status.is_success() && !fulfillment {
        // A direct grant answers the entitlements or the wallet: any JSON says it applied.
        return Answer::Done(match serde_json::from_str::<serde_json::Value>(body) {
            Ok(_) => GrantOutcome::Granted,
            Err(_) => GrantOutcome::Unknown(format!("{} (not JSON)", message())),
        });
    }
    if fulfillment && (status.is_success() || status == StatusCode::CONFLICT) {
        let state = parsed.as_ref().ok().and_then(|a| a.state.clone());
        return match state.as_deref() {
            Some("FULFILLED") => Answer::Done(GrantOutcome::Granted),
            Some("FULFILL_FAILED") => {
                Answer::Failed("Platform could not fulfil it (FULFILL_FAILED)".to_string())
            }
            Some(revoked @ ("REVOKED" | "REVOKE_FAILED")) => {
                Answer::Done(GrantOutcome::Operator(format!(
                    "Platform holds the transaction as {revoked}: it was fulfilled and then \
                     revoked, so it is not granted again on its own"
                )))
            }
            // A 409 says the transaction exists but not how: ask Platform.
            _ if status == StatusCode::CONFLICT => Answer::Failed(message()),
            Some(other) => Answer::Done(GrantOutcome::Unknown(format!(
                "Platform answered the fulfillment with state {other}, not FULFILLED"
            ))),
            None => Answer::Done(GrantOutcome::Unknown(format!(
                "{} (no fulfillment state in it)",
                message()
            ))),
        };
    }
    let code = parsed
        .ok()
        .and_then(|a| a.error_code)
        .map(|c| c.to_string().trim_matches('"').to_string());
    Answer::Done(match status {
        StatusCode::BAD_REQUEST if fulfillment && code.as_deref() == Some(OTHER_PAYLOAD) => {
            GrantOutcome::Operator(format!(
                "Platform holds other items under this transaction id ({OTHER_PAYLOAD}): {}; check \
                 what the player received and resolve it with `service claims resolve`",
                shown(body)
            ))
        }
        StatusCode::TOO_MANY_REQUESTS => GrantOutcome::NotSent(message()),
        StatusCode::REQUEST_TIMEOUT => GrantOutcome::Unknown(message()),
        _ if status.is_server_error() => GrantOutcome::Unknown(message()),
        _ => GrantOutcome::Refused(message()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_mean_what_the_delivery_allows() {
        use Delivery::{Direct, Fulfillment};
        let outcome = |status: u16, body: &str, delivery| match classify(
            StatusCode::from_u16(status).unwrap(),
            body,
            delivery,
        ) {
            Answer::Done(outcome) => outcome,
            Answer::Failed(why) => GrantOutcome::NotSent(format!("failed: {why}")),
        };
        assert_eq!(outcome(200, "{}", Direct), GrantOutcome::Granted);
        assert!(matches!(
            outcome(200, "<html>", Direct),
            GrantOutcome::Unknown(_)
        ));
        assert!(matches!(
            outcome(200, r#"{"state":"FULFILL_FAILED"}"#, Fulfillment),
            GrantOutcome::NotSent(why) if why.starts_with("failed")
        ));
        let late = format!(
            r#"{{"items":"{}","state":"FULFILL_FAILED"}}"#,
            "x".repeat(400)
        );
        assert!(matches!(
            outcome(200, &late, Fulfillment),
            GrantOutcome::NotSent(why) if why.starts_with("failed")
        ));
        assert_eq!(
            outcome(200, r#"{"state":"FULFILLED"}"#, Fulfillment),
            GrantOutcome::Granted
        );
        assert!(matches!(
            outcome(200, "{}", Fulfillment),
            GrantOutcome::Unknown(_)
        ));
        assert!(matches!(
            outcome(200, r#"{"state":"REVOKED"}"#, Fulfillment),
            GrantOutcome::Operator(_)
        ));
        assert!(matches!(
            outcome(400, r#"{"errorCode":38128}"#, Fulfillment),
            GrantOutcome::Operator(_)
        ));
        assert!(matches!(outcome(400, "", Direct), GrantOutcome::Refused(_)));
        assert!(matches!(
            outcome(404, "", Fulfillment),
            GrantOutcome::Refused(_)
        ));
        assert!(matches!(outcome(409, "", Direct), GrantOutcome::Refused(_)));
        assert!(matches!(
            outcome(409, "", Fulfillment),
            GrantOutcome::NotSent(why) if why.starts_with("failed")
        ));
        assert_eq!(
            outcome(409, r#"{"state":"FULFILLED"}"#, Fulfillment),
            GrantOutcome::Granted
        );
        assert!(matches!(outcome(429, "", Direct), GrantOutcome::NotSent(_)));
        assert!(matches!(outcome(408, "", Direct), GrantOutcome::Unknown(_)));
        assert!(matches!(outcome(503, "", Direct), GrantOutcome::Unknown(_)));
    }
}
