//! What the page changes: every action is a `meridian net` command line,
//! parsed by `meridian net`'s own grammar and checks and applied by its
//! executor ([`crate::net::execute`]), so a fault set from the page means
//! the same as one set from the CLI, and bad input is refused with the same
//! message, before anything is sent. Each action carries the cluster's
//! admin token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use serde_json::{Value as Json, json};

use super::board::{Shared, error};
use crate::net::{NetArgs, NetCommand, execute};

/// Largest action body taken.
const MAX_BODY: usize = 16 << 10;
/// Most words in one command line.
const MAX_ARGS: usize = 32;

/// A `meridian net` command line as the page sends it.
#[derive(Parser)]
#[command(
    name = "meridian net",
    no_binary_name = true,
    disable_help_subcommand = true
)]
struct Line {
    #[command(flatten)]
    net: NetArgs,
}

/// `POST /api/net` with `{"args": ["partition", "us-east-1", "eu-west-1",
/// "--for", "3s"]}`: runs the command; answers `{"ok": <what it did>}`, or
/// `{"error": ...}` having changed nothing when the input is refused.
pub async fn net(State(board): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err((status, message)) = board.authorized(&headers) {
        return error(status, message);
    }
    let args = match words(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let line = match Line::try_parse_from(&args) {
        Ok(l) => l,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                e.render().to_string().trim().into(),
            );
        }
    };
    if let Some(e) = foreign(&args, &line.net.command) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let api = board.control_api().addr;
    match execute(board.cluster.clone(), api, line.net.for_, line.net.command).await {
        Ok(done) => axum::Json(json!({ "ok": done })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

/// The command line's words, from `{"args": [...]}`.
fn words(body: &[u8]) -> Result<Vec<String>, String> {
    if body.len() > MAX_BODY {
        return Err(format!(
            "body: {} bytes is more than the limit of {MAX_BODY}",
            body.len()
        ));
    }
    let j: Json = serde_json::from_slice(body).map_err(|e| format!("body: not JSON: {e}"))?;
    let Some(args) = j.get("args").and_then(Json::as_array) else {
        return Err(r#"body: expected {"args": ["partition", "us-east-1", "eu-west-1"]}"#.into());
    };
    if args.len() > MAX_ARGS {
        return Err(format!(
            "args: {} words is more than the limit of {MAX_ARGS}",
            args.len()
        ));
    }
    args.iter()
        .map(|a| {
            a.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("args: {a} is not a string"))
        })
        .collect()
}

/// What a command line may not do here: name another cluster or control
/// API (the page acts on the cluster it runs with), or `show`, which is
/// what the page itself is.
fn foreign(args: &[String], command: &NetCommand) -> Option<String> {
    if args.iter().any(|a| {
        a == "--config" || a == "--api" || a.starts_with("--config=") || a.starts_with("--api=")
    }) {
        return Some("--config and --api are not taken here: the dashboard acts on the cluster it was started with".into());
    }
    matches!(command, NetCommand::Show { .. }).then(|| {
        "show: the dashboard itself shows the links; GET /api/snapshot has them as JSON".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Line, String> {
        Line::try_parse_from(words).map_err(|e| e.render().to_string())
    }

    #[test]
    fn a_command_line_parses_with_net_s_grammar() {
        let l = parse(&["partition", "a", "b", "--both", "--for", "3s"]).unwrap();
        assert_eq!(l.net.for_.as_deref(), Some("3s"));
        assert!(matches!(l.net.command, NetCommand::Partition { .. }));
        let e = parse(&["partition", "a"]).err().unwrap();
        assert!(e.contains("<TO>"), "{e}");
        let e = parse(&["bogus"]).err().unwrap();
        assert!(e.contains("unrecognized subcommand 'bogus'"), "{e}");
    }

    #[test]
    fn the_body_is_a_list_of_words_within_limits() {
        assert_eq!(
            words(br#"{"args": ["crash", "a"]}"#).unwrap(),
            ["crash", "a"]
        );
        assert!(words(b"nope").unwrap_err().contains("not JSON"));
        assert!(
            words(br#"{"args": [1]}"#)
                .unwrap_err()
                .contains("1 is not a string")
        );
        assert!(words(br#"{"argv": []}"#).unwrap_err().contains("expected"));
        let many = json!({"args": vec!["x"; MAX_ARGS + 1]}).to_string();
        assert!(words(many.as_bytes()).unwrap_err().contains("limit of 32"));
    }

    #[test]
    fn another_cluster_and_show_are_refused() {
        let args: Vec<String> = ["--api", "x:1", "crash", "a"].map(String::from).into();
        let l = Line::try_parse_from(&args).unwrap();
        assert!(foreign(&args, &l.net.command).unwrap().contains("--api"));
        let args: Vec<String> = ["show"].map(String::from).into();
        let l = Line::try_parse_from(&args).unwrap();
        assert!(foreign(&args, &l.net.command).unwrap().starts_with("show"));
    }
}
