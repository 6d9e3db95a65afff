//! The link proxy's control API (Toxiproxy's JSON): toxics added, updated,
//! listed and deleted, and a proxy updated, with bodies from the input,
//! through the real router. Anything is answered, 4xx for what it
//! refuses; nothing panics and nothing answers 5xx. A body that would move
//! the proxy's listening address is left out: the target binds loopback
//! only.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use meridian_netsim::Registry;
use tower::ServiceExt;

struct Fixture {
    rt: tokio::runtime::Runtime,
    registry: Registry,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let registry = Registry::new();
        Fixture { rt, registry }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    if serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|j| j.get("listen").cloned())
        .is_some()
    {
        return;
    }
    let f = fixture();
    f.rt.block_on(async {
        if f.registry.get("p").is_err() {
            f.registry
                .create("p", "127.0.0.1:0", "127.0.0.1:9", false)
                .await
                .expect("the proxy starts");
        }
        let (method, path) = match route % 6 {
            0 => (Method::POST, "/proxies/p/toxics"),
            1 => (Method::POST, "/proxies/p/toxics/t"),
            2 => (Method::GET, "/proxies/p/toxics"),
            3 => (Method::DELETE, "/proxies/p/toxics/t"),
            4 => (Method::POST, "/proxies/p"),
            _ => (Method::GET, "/proxies"),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let answer = meridian_netsim::api::router(f.registry.clone())
            .oneshot(request)
            .await
            .expect("the router answers");
        assert!(
            !answer.status().is_server_error(),
            "{} for {path} with {:?}",
            answer.status(),
            String::from_utf8_lossy(body)
        );
        // Start every input from a proxy without toxics.
        if let Ok(p) = f.registry.get("p") {
            p.clear_toxics();
        }
    });
});
