//! Bounded load and input from outside: the DynamoDB endpoint sheds
//! requests past its in-flight limit with DynamoDB's `ThrottlingException`
//! (which every SDK retries), and the gRPC API refuses a huge item made of
//! one-byte values cheaply, naming the limit.

use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_tests::TestCluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIST_TABLES: &str = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nConnection: close\r\nContent-Length: 2\r\n\r\n";

/// Sends a whole ListTables on a connection of its own; the answer.
async fn list_tables(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{LIST_TABLES}{{}}").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_in_flight_limit_the_dynamodb_endpoint_throttles() {
    let cluster = TestCluster::start(&["us-east-1"]).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let front = meridian_dynamo::Front::new(
        cluster.nodes[0].region.as_ref().unwrap().ops(),
        meridian_dynamo::FrontConfig {
            max_in_flight: 1,
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(meridian_dynamo::serve(front, listener, stopped));

    // A request whose body has not come yet holds the one slot. It may
    // lose the race for the slot to a request sent just after it, and be
    // throttled itself: then another takes its place.
    let hold = || async move {
        let mut held = TcpStream::connect(addr).await.unwrap();
        held.write_all(LIST_TABLES.as_bytes()).await.unwrap();
        held
    };
    let mut held = hold().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let throttled = loop {
        let answer = list_tables(addr).await;
        if answer.contains("ThrottlingException") {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no request was throttled within 10 s; the last answer: {answer}"
        );
        if !matches!(held.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            held = hold().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(throttled.starts_with("HTTP/1.1 400"), "{throttled}");
    assert!(
        throttled.contains("com.amazonaws.dynamodb.v20120810#ThrottlingException")
            && throttled.contains("the limit"),
        "{throttled}"
    );
    // The held request finishes normally, and frees its slot.
    held.write_all(b"{}").await.unwrap();
    let mut answer = String::new();
    held.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let after = list_tables(addr).await;
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");

    let _ = stop.send(true);
    let _ = server.await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_item_of_one_byte_values_is_refused_naming_the_limit() {
    let cluster = TestCluster::start(&["us-east-1"]).await;
    cluster.create_table(0, "huge", ("id", "S"), None).await;
    // 60 MiB: one attribute, a list of 60 Mi NULLs, in the item encoding
    // (format 1; one pair; name "l"; tag L; the count; then NULL tags).
    let n: usize = 60 << 20;
    let mut item = vec![1u8, 1, 1, b'l', 8];
    let mut len = n;
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            item.push(b);
            break;
        }
        item.push(b | 0x80);
    }
    item.resize(item.len() + n, 6);
    let e = cluster
        .client(0)
        .put_item(pb::PutItemRequest {
            table: "huge".into(),
            item,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    // Refused once about 400 KB of it were read: the size counted stops
    // just past the limit (a whole decode would count 120 MiB).
    assert!(
        e.message().contains("exceeds the limit of 409600 bytes")
            && e.message().contains("(at least 4096"),
        "{}",
        e.message()
    );
    cluster.shutdown().await;
}
