//! Strong mode's messages are untrusted input (docs/strong.md, "Messages
//! and their checks"): a test sender speaks the Consensus protocol to
//! us-east-1, the leader of a STRONG table, in ap-southeast-1's name (a
//! plaintext cluster takes the name a peer gives). Each forgery is refused
//! with a metric under its reason and changes nothing: a name that is no
//! region ends the stream, a message over the entry limit or with bytes
//! that are no entry is dropped, and a proposal whose write names another
//! table is refused before the protocol sees it. The table goes on taking
//! writes, and no forged item ever appears in any region.

use std::time::Duration;

use meridian_core::strong::codec::Writes;
use meridian_core::strong::{Entry, LIVES_KEPT, ProposalId};
use meridian_core::{AttrValue, EncodedKey, Item, Mutation};
use meridian_proto::v1 as pb;
use meridian_region::strong::wire::MAX_ENTRIES;
use meridian_tests::peer::metric;
use meridian_tests::{TestCluster, id_table, poll_until, version_of};
use tonic::Code;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const TABLE: &str = "guarded";
const REFUSED: &str = "meridian_strong_refused_messages_total";

fn item(id: &str) -> Item {
    Item::from([("id".to_string(), AttrValue::S(id.into()))])
}

fn key(id: &str) -> Vec<u8> {
    meridian_core::encode_item(&item(id))
}

fn envelope(from: &str, incarnation: &[u8], msg: pb::strong_envelope::Msg) -> pb::StrongEnvelope {
    pb::StrongEnvelope {
        from_region: from.into(),
        table: TABLE.into(),
        table_version: incarnation.to_vec(),
        generation: 1,
        nonce: 7,
        msg: Some(msg),
    }
}

/// An entry proposing `mutation`, as ap-southeast-1 (member 0 of the sorted
/// members) would encode it.
fn proposal(mutation: Mutation) -> Vec<u8> {
    let writes = Writes {
        mutations: vec![mutation],
        expect: vec![None],
    };
    meridian_core::strong::codec::encode(&Entry {
        id: ProposalId {
            origin: 0,
            life: 7,
            seq: 1,
        },
        body: writes.into_body(),
    })
}

fn mutation(table: &str, incarnation: &[u8], id: &str) -> Mutation {
    let version = meridian_core::Version::new(
        meridian_core::Timestamp::new(4_000_000_000_000_000, 0),
        "ap-southeast-1",
    );
    Mutation {
        seq: 1,
        table: table.into(),
        table_version: Some(incarnation.to_vec()),
        key: EncodedKey {
            partition: id.as_bytes().to_vec(),
            sort: Vec::new(),
        },
        version: version.to_bytes(),
        prev: None,
        context: Vec::new(),
        image: Some(key(id)),
        commit_real: 0,
        ttl: false,
        unit: (0, 1),
    }
}

async fn read(c: &TestCluster, i: usize, id: &str) -> Option<pb::StoredItem> {
    c.client(i)
        .get_item(pb::GetItemRequest {
            table: TABLE.into(),
            key: key(id),
            consistent: true,
        })
        .await
        .expect("a consistent read")
        .into_inner()
        .item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_consensus_messages_are_refused_counted_and_change_nothing() {
    let c = TestCluster::start(&REGIONS).await;
    let d = c
        .client(0)
        .create_table(id_table(TABLE, &REGIONS, "STRONG", None))
        .await
        .expect("create a STRONG table")
        .into_inner();
    let incarnation = version_of(&d.version).to_bytes();
    poll_until("a first STRONG write", Duration::from_secs(20), || async {
        c.client(0)
            .put_item(pb::PutItemRequest {
                table: TABLE.into(),
                item: key("honest-0"),
                ..Default::default()
            })
            .await
            .is_ok()
    })
    .await;

    let mut consensus = pb::consensus_client::ConsensusClient::connect(c.url(0))
        .await
        .expect("connect");
    use pb::strong_envelope::Msg as M;

    // A name that is no region of the cluster: the stream ends.
    let refused = consensus
        .exchange(futures::stream::iter(vec![envelope(
            "mars",
            &incarnation,
            M::Hello(pb::StrongHello::default()),
        )]))
        .await
        .expect_err("a stream from no region");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        metric(
            &c,
            0,
            REFUSED,
            &[("peer", "unknown"), ("reason", "not_a_peer")]
        ),
        1.0
    );

    // Over the entry limit, bytes that are no entry, and a proposal whose
    // write names another table: each dropped under its reason.
    let too_many = pb::StrongAccept {
        ballot: Some(pb::StrongBallot {
            round: 99,
            leader: 0,
        }),
        start: 1,
        entries: vec![proposal(mutation(TABLE, &incarnation, "x")); MAX_ENTRIES + 1],
        commit: 0,
        safe: 0,
        ping: 0,
        held: 0,
    };
    // A hello naming more lives than a store keeps.
    let long_hello = pb::StrongHello {
        lives: vec![pb::StrongGeneration::default(); LIVES_KEPT + 1],
    };
    let forged = vec![
        envelope("ap-southeast-1", &incarnation, M::Accept(too_many)),
        envelope("ap-southeast-1", &incarnation, M::Hello(long_hello)),
        envelope(
            "ap-southeast-1",
            &incarnation,
            M::Propose(propose(b"not an entry".to_vec())),
        ),
        envelope(
            "ap-southeast-1",
            &incarnation,
            M::Propose(propose(proposal(mutation(
                "elsewhere",
                &incarnation,
                "forged",
            )))),
        ),
    ];
    let summary = consensus
        .exchange(futures::stream::iter(forged))
        .await
        .expect("the stream itself is from a peer")
        .into_inner();
    assert_eq!(
        summary.received, 1,
        "only the proposal passed the wire checks"
    );
    let from = [("peer", "ap-southeast-1")];
    poll_until("the refusals counted", Duration::from_secs(10), || async {
        metric(&c, 0, REFUSED, &[from[0], ("reason", "malformed")]) == 3.0
            && metric(&c, 0, REFUSED, &[from[0], ("reason", "forged_entry")]) == 1.0
    })
    .await;

    // Nothing changed: the table takes writes, every region reads them, and
    // no forged item is anywhere.
    c.client(1)
        .put_item(pb::PutItemRequest {
            table: TABLE.into(),
            item: key("honest-1"),
            ..Default::default()
        })
        .await
        .expect("a write after the forgeries");
    for i in 0..REGIONS.len() {
        assert!(read(&c, i, "honest-1").await.is_some(), "region {i}");
        for id in ["x", "forged"] {
            assert!(read(&c, i, id).await.is_none(), "{id} in region {i}");
        }
    }
    c.shutdown().await;
}

/// A proposal's bytes as a peer sends them, to a leader at the first ballot.
fn propose(entry: Vec<u8>) -> pb::StrongPropose {
    pb::StrongPropose {
        entry,
        ballot: Some(pb::StrongBallot {
            round: 1,
            leader: 0,
        }),
    }
}
