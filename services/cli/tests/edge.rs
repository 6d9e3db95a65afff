//! The edge end to end (docs/edge.md): the real `meridian up` serves one
//! DynamoDB address in front of three region processes. A request signed
//! for each region (header or query string) lands in that region, as its
//! own store shows; an unsigned one in the first region; DynamoDB Streams
//! requests pass too; a region the cluster lacks and a malformed signature
//! are refused in DynamoDB's error shape, naming what is wrong, and
//! nothing is written; a crashed region answers 503; the counts are on
//! `/metrics` and `/meridian/edge`. Every wait polls with a deadline.

use std::path::Path;
use std::time::Duration;

use meridian_cluster::ControlApi;
use meridian_cluster::http::{Target, get, request};
use meridian_core::{AttrValue, Item, Version};
use meridian_region::{ClusterFile, EdgeSection};
use serde_json::Value as Json;

use crate::common::{create_kvs, poll};
use crate::up::{Cluster, Daemon, REGIONS, cluster};

/// An `Authorization` header scoped to `region` (no keys are configured,
/// so the regions take any signature of the right shape).
fn signed_for(region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=k/20261129/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// One DynamoDB (or Streams) call to `target` through `endpoint` at
/// `path`, with `authorization` if given: the HTTP status and the body.
async fn call(
    endpoint: &str,
    path: &str,
    target: &str,
    authorization: Option<&str>,
    body: &str,
) -> (u16, Json) {
    let mut headers = vec![
        ("x-amz-target", target),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    headers.extend(authorization.map(|a| ("authorization", a)));
    let r = request(
        &Target::at(endpoint, path),
        "POST",
        &headers,
        body.as_bytes().to_vec(),
        1 << 20,
        Duration::from_secs(15),
    )
    .await
    .expect("the edge answers");
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Json::Null),
    )
}

async fn put(endpoint: &str, path: &str, authorization: Option<&str>, id: &str) -> (u16, Json) {
    let body = format!(r#"{{"TableName": "kvs", "Item": {{"id": {{"S": "{id}"}}}}}}"#);
    call(
        endpoint,
        path,
        "DynamoDB_20120810.PutItem",
        authorization,
        &body,
    )
    .await
}

/// The head version of item `id` of `kvs` in the store under `dir`.
fn head(dir: &Path, id: &str) -> Option<Version> {
    let reader = meridian_store::open_reader(dir).ok()?;
    let (def, _) = reader.table_def("kvs").ok()??;
    let mut key = Item::new();
    key.insert("id".into(), AttrValue::S(id.into()));
    let key = def.key_schema.key_from_attrs(&key).ok()?;
    Some(reader.get("kvs", &key).ok()??.version)
}

/// The cluster file of `c` with a DynamoDB endpoint per region and an
/// edge on a port of its own, written back; and where the edge listens.
fn with_edge(c: &Cluster) -> (ClusterFile, String) {
    let mut file = ClusterFile::load(&c.config).unwrap();
    let mut taken = Vec::new();
    for r in &mut file.regions {
        let port = meridian_cluster::ports::free_port().unwrap();
        taken.push(port);
        r.dynamo = Some(([127, 0, 0, 1], port).into());
    }
    let listen = loop {
        let port = meridian_cluster::ports::free_port().unwrap();
        if !taken.contains(&port) {
            break std::net::SocketAddr::from(([127, 0, 0, 1], port));
        }
    };
    file.edge = Some(EdgeSection { listen });
    file.write(&c.config).unwrap();
    (file, listen.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_sends_each_request_to_the_region_its_signature_names() {
    let c = cluster(false);
    let (file, edge) = with_edge(&c);
    let dirs: Vec<_> = REGIONS.iter().map(|r| file.data_dir.join(r)).collect();
    let up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    poll("meridian up to serve every region", || async {
        up.log().contains("regions up")
    })
    .await;
    assert!(
        up.log()
            .contains(&format!("export AWS_ENDPOINT_URL=http://{edge}")),
        "the banner shows the edge"
    );
    let status_url = format!("http://{edge}/meridian/edge");
    create_kvs(&c.grpc).await;

    // Refused first: whatever a region would do with these, they reach
    // none, so the stores checked at the end lack them.
    let (status, body) = put(&edge, "/", Some(&signed_for("us-west-2")), "nowhere").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["__type"],
        "com.amazonaws.dynamodb.v20120810#InvalidSignatureException"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Credential should be scoped to a valid region, not 'us-west-2'. "),
        "{message}"
    );
    assert!(message.contains(&REGIONS.join(", ")), "{message}");
    let (status, body) = put(&edge, "/", Some("AWS4-HMAC-SHA256 garbage"), "malformed").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("credential scope"),
        "{body}"
    );

    // Signed for each region, in the header: written there, by it.
    for (i, region) in REGIONS.iter().enumerate() {
        let id = format!("from-{region}");
        let (status, body) = put(&edge, "/", Some(&signed_for(region)), &id).await;
        assert_eq!(status, 200, "{region}: {body}");
        let v = head(&dirs[i], &id).expect("the write in its region's own store");
        assert_eq!(v.origin, *region);
        let (status, body) = call(
            &edge,
            "/",
            "DynamoDB_20120810.DescribeTable",
            Some(&signed_for(region)),
            r#"{"TableName": "kvs"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let arn = body["Table"]["TableArn"].as_str().unwrap();
        assert!(arn.contains(&format!(":{region}:")), "{region}: {arn}");
        // DynamoDB Streams' API is served by the same regional endpoint.
        let (status, body) = call(
            &edge,
            "/",
            "DynamoDBStreams_20120810.ListStreams",
            Some(&signed_for(region)),
            "{}",
        )
        .await;
        assert_eq!(status, 200, "{region} ListStreams: {body}");
    }
    // Signed in the query string (a presigned URL), for eu-west-1.
    let query = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=k%2F20261129%2Feu-west-1%2Fdynamodb%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=0";
    let (status, body) = put(&edge, query, None, "by-query").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(head(&dirs[1], "by-query").unwrap().origin, "eu-west-1");
    // Unsigned: the first region.
    let (status, body) = put(&edge, "/", None, "unsigned").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(head(&dirs[0], "unsigned").unwrap().origin, REGIONS[0]);

    // Every write replicates as a regional one does; the refused ones are
    // nowhere.
    for dir in &dirs {
        for id in REGIONS
            .iter()
            .map(|r| format!("from-{r}"))
            .chain(["by-query".into(), "unsigned".into()])
        {
            poll("every write everywhere", || {
                let (dir, id) = (dir.clone(), id.clone());
                async move { head(&dir, &id).is_some() }
            })
            .await;
        }
        assert_eq!(head(dir, "nowhere"), None);
        assert_eq!(head(dir, "malformed"), None);
    }

    // A region that is down: 503 in DynamoDB's shape, the others unharmed.
    let api = ControlApi::new(format!("127.0.0.1:{}", c.api));
    api.process(REGIONS[2], "crash").await.unwrap();
    let (status, body) = put(&edge, "/", Some(&signed_for(REGIONS[2])), "down").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["__type"],
        "com.amazonaws.dynamodb.v20120810#ServiceUnavailable"
    );
    assert!(
        body["message"].as_str().unwrap().contains(REGIONS[2]),
        "{body}"
    );
    let (status, body) = put(&edge, "/", Some(&signed_for(REGIONS[1])), "still").await;
    assert_eq!(status, 200, "{body}");

    counts_are_served(&edge, &status_url).await;
}

/// What the requests above add up to, on both of the edge's own routes.
async fn counts_are_served(edge: &str, status_url: &str) {
    let doc: Json = serde_json::from_slice(
        &get(status_url, 1 << 20, Duration::from_secs(5))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    let forwarded: Vec<u64> = doc["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["forwarded"].as_u64().unwrap())
        .collect();
    // Per region: PutItem, DescribeTable, ListStreams; eu-west-1 the
    // query-signed PutItem and "still"; us-east-1 the unsigned one.
    assert_eq!(forwarded, [4, 5, 3], "{doc}");
    assert_eq!(doc["regions"][2]["unreachable"], 1, "{doc}");
    assert_eq!(doc["unsigned"], 1, "{doc}");
    assert_eq!(doc["refused"]["unknown_region"], 1, "{doc}");
    assert_eq!(doc["refused"]["malformed"], 1, "{doc}");
    let text = String::from_utf8(
        get(
            &format!("http://{edge}/metrics"),
            1 << 20,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .body,
    )
    .unwrap();
    for line in [
        "meridian_edge_requests_total{region=\"eu-west-1\",outcome=\"forwarded\"} 5",
        "meridian_edge_requests_total{region=\"ap-southeast-1\",outcome=\"unreachable\"} 1",
        "meridian_edge_refused_total{reason=\"unknown_region\"} 1",
        "meridian_edge_unsigned_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}
