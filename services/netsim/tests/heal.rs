//! Faults that heal themselves: a toxic or a disabled proxy given `for_ms`
//! ends on the proxy's own timer, with no client connected, through the
//! same control API `meridian net` and Toxiproxy clients use. The timer's
//! rules run in virtual time (`start_paused`), so the ends are exact.

use std::time::Duration;

use meridian_cluster::ControlApi;
use meridian_netsim::api::serve_with;
use meridian_netsim::{Effect, Registry, Stream, Toxic};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

async fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The control API on loopback, with one proxy `a>b` in front of an echo
/// server.
async fn start() -> (ControlApi, Registry, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let registry = Registry::new();
    tokio::spawn(serve_with(
        registry.clone(),
        None,
        None,
        None,
        l,
        std::future::pending(),
    ));
    let api = ControlApi::new(addr);
    let upstream = echo_server().await;
    let listen = api
        .must(
            "POST",
            "/proxies",
            Some(json!({"name": "a>b", "listen": "127.0.0.1:0", "upstream": upstream})),
        )
        .await
        .unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    (api, registry, listen)
}

async fn round_trip(s: &mut TcpStream) {
    s.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
}

fn toxics(proxy: &Json) -> Vec<Json> {
    proxy["toxics"].as_array().cloned().unwrap_or_default()
}

fn hole() -> Toxic {
    Toxic {
        name: "meridian.partition.upstream".into(),
        stream: Stream::Upstream,
        toxicity: 1.0,
        effect: Effect::Timeout { timeout_ms: 0 },
    }
}

// The timer's tests call the proxy directly: under paused time, a test
// waiting on a socket lets the clock jump to the next timer, which is the
// very end being tested.
#[tokio::test(start_paused = true)]
async fn a_toxic_given_a_time_ends_on_the_proxys_own_timer() {
    let reg = Registry::new();
    let p = reg
        .create("a>b", "127.0.0.1:0", "127.0.0.1:9", true)
        .await
        .unwrap();
    p.add_toxic(hole()).unwrap();
    p.expire_toxic(&hole().name, Some(Instant::now() + Duration::from_secs(3)))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_999)).await;
    assert_eq!(p.state().toxics.len(), 1, "not before its time");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let s = p.state();
    assert!(s.toxics.is_empty() && s.expires.is_empty(), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fault_set_again_keeps_its_new_end_and_an_old_timer_changes_nothing() {
    let reg = Registry::new();
    let p = reg
        .create("a>b", "127.0.0.1:0", "127.0.0.1:9", true)
        .await
        .unwrap();
    let name = hole().name;
    p.add_toxic(hole()).unwrap();
    let at = |s| Some(Instant::now() + Duration::from_secs(s));
    p.expire_toxic(&name, at(1)).unwrap();
    p.expire_toxic(&name, None).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(p.state().toxics.len(), 1, "set again for good, it stays");
    p.expire_toxic(&name, at(1)).unwrap();
    p.expire_toxic(&name, at(10)).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        p.state().toxics.len(),
        1,
        "the later end replaced the earlier"
    );
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(p.state().toxics.is_empty());
    // A toxic added again under the name of one that was given a time and
    // removed by hand is not taken by the old timer.
    p.add_toxic(hole()).unwrap();
    p.expire_toxic(&name, at(1)).unwrap();
    p.remove_toxic(&name).unwrap();
    p.add_toxic(hole()).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.state().toxics.len(), 1);
    assert!(p.expire_toxic("nope", at(1)).is_err(), "no such toxic");
}

#[tokio::test(start_paused = true)]
async fn a_proxy_disabled_for_a_time_takes_connections_again_by_itself() {
    let upstream = echo_server().await;
    let reg = Registry::new();
    let p = reg
        .create("a>b", "127.0.0.1:0", &upstream, true)
        .await
        .unwrap();
    p.disable_until(Instant::now() + Duration::from_secs(2))
        .await
        .unwrap();
    assert!(!p.state().enabled);
    assert!(
        TcpStream::connect(p.listen).await.is_err(),
        "refused while disabled"
    );
    tokio::time::sleep(Duration::from_millis(2_001)).await;
    let s = p.state();
    assert!(s.enabled && s.enable_at.is_none(), "{s:?}");
    let mut c = TcpStream::connect(p.listen).await.unwrap();
    round_trip(&mut c).await;
    // Disabled again for good, a timer left from before changes nothing.
    p.disable_until(Instant::now() + Duration::from_secs(1))
        .await
        .unwrap();
    p.set_enabled(false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!p.state().enabled);
}

/// Through the control API, in real time: the end comes with no call, and
/// a connection open across it is neither closed nor left slow. Polls with
/// a deadline; asserts no duration.
#[tokio::test]
async fn through_the_api_the_fault_ends_and_an_open_connection_stays_open() {
    let (api, _registry, listen) = start().await;
    let mut s = TcpStream::connect(&listen).await.unwrap();
    round_trip(&mut s).await;
    let t = api
        .put_toxic(
            "a>b",
            "slow",
            "latency",
            "upstream",
            json!({"latency": 20}),
            json!({"latency": 20}),
            Some(300),
        )
        .await
        .unwrap();
    let left = t["remaining_ms"].as_u64().unwrap();
    assert!((1..=300).contains(&left), "{t}");
    round_trip(&mut s).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !toxics(&api.proxy("a>b").await.unwrap()).is_empty() {
        assert!(Instant::now() < deadline, "the toxic never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    round_trip(&mut s).await;
}

#[tokio::test]
async fn a_time_out_of_range_is_refused_naming_the_field_and_nothing_changes() {
    let (api, _registry, _) = start().await;
    for bad in [
        json!(0),
        json!(86_400_001u64),
        json!(-5),
        json!("30s"),
        json!(1.5),
    ] {
        let r = api
            .call(
                "POST",
                "/proxies/a%3Eb/toxics",
                Some(json!({"name": "x", "type": "latency", "attributes": {"latency": 5}, "for_ms": bad})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}");
        let e = r.error();
        assert!(e.contains("for_ms") && e.contains("86400000"), "{e}");
    }
    let r = api
        .call(
            "POST",
            "/proxies/a%3Eb",
            Some(json!({"enabled": true, "for_ms": 1000})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.error().contains("\"enabled\": false"), "{}", r.error());
    let p = api.proxy("a>b").await.unwrap();
    assert!(toxics(&p).is_empty() && p["enabled"] == true, "{p}");
}
