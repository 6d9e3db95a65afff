//! Section 1: CreateTable and DescribeTable with secondary indexes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_with_indexes_and_describe_them() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;

    let t = describe(&c, "orders").await;
    let arn = t.table_arn().expect("a table ARN").to_string();
    let defs: BTreeMap<String, String> = t
        .attribute_definitions()
        .iter()
        .map(|d| {
            (
                d.attribute_name().to_string(),
                d.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("pk", "S"),
        ("sk", "S"),
        ("status", "S"),
        ("at", "N"),
        ("owner", "S"),
        ("region", "S"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let mut cases = Cases::new();
    cases
        .run("AttributeDefinitions", async {
            assert_eq!(
                defs,
                want,
                "AttributeDefinitions: {:?}",
                t.attribute_definitions()
            );
        })
        .await;

    let schema = |k: &[KeySchemaElement]| -> Vec<(String, String)> {
        k.iter()
            .map(|e| {
                (
                    e.attribute_name().to_string(),
                    e.key_type().as_str().to_string(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    cases
        .run("three global indexes", async {
            assert_eq!(t.global_secondary_indexes().len(), 3, "{t:?}");
        })
        .await;
    let indexes = [
        (
            "by_status",
            pairs(&[("status", "HASH"), ("at", "RANGE")]),
            ProjectionType::All,
            vec![],
        ),
        (
            "by_owner",
            pairs(&[("owner", "HASH")]),
            ProjectionType::KeysOnly,
            vec![],
        ),
        (
            "by_region",
            pairs(&[("region", "HASH"), ("at", "RANGE")]),
            ProjectionType::Include,
            vec!["note".to_string(), "price".to_string()],
        ),
    ];
    for (name, ks, pt, nka) in &indexes {
        cases
            .run(name, async {
                let g = gsi_of(&t, name).unwrap_or_else(|| panic!("{name} in {t:?}"));
                assert_eq!(&schema(g.key_schema()), ks, "{name} KeySchema");
                let p = g.projection().expect("a projection");
                assert_eq!(p.projection_type(), Some(pt), "{name} ProjectionType");
                let mut got: Vec<String> = p.non_key_attributes().to_vec();
                got.sort();
                assert_eq!(&got, nka, "{name} NonKeyAttributes");
                assert_eq!(
                    g.index_status(),
                    Some(&IndexStatus::Active),
                    "{name} IndexStatus"
                );
                assert_eq!(
                    g.backfilling(),
                    None,
                    "{name}: an ACTIVE index shows no Backfilling"
                );
                assert_eq!(
                    g.index_arn(),
                    Some(format!("{arn}/index/{name}").as_str()),
                    "{name} IndexArn"
                );
                assert_eq!(
                    g.item_count(),
                    Some(0),
                    "{name} ItemCount of an empty table"
                );
            })
            .await;
    }
    cases
        .run("the local index", async {
            let lsis = t.local_secondary_indexes();
            assert_eq!(lsis.len(), 1, "{t:?}");
            let l = &lsis[0];
            assert_eq!(l.index_name(), Some("by_at"));
            assert_eq!(
                schema(l.key_schema()),
                pairs(&[("pk", "HASH"), ("at", "RANGE")])
            );
            assert_eq!(
                l.projection().and_then(|p| p.projection_type()),
                Some(&ProjectionType::KeysOnly)
            );
            assert_eq!(l.index_arn(), Some(format!("{arn}/index/by_at").as_str()));
        })
        .await;

    // ItemCount follows the writes, counting only the items each index holds.
    let mut items = Vec::new();
    for i in 0..30 {
        let mut it = item([
            ("pk", s(&format!("p{}", i % 3))),
            ("sk", s(&format!("s{i:02}"))),
            ("price", n(i)),
        ]);
        if i % 2 == 0 {
            it.insert("status".into(), s("open"));
        }
        if i % 3 == 0 {
            it.insert("owner".into(), s("ann"));
        }
        if i < 10 {
            it.insert("region".into(), s("eu"));
        }
        if i % 5 != 0 {
            it.insert("at".into(), n(i));
        }
        items.push(it);
    }
    put_many(&c, "orders", items.clone()).await;
    let holds = |need: &[&str]| {
        items
            .iter()
            .filter(|i| need.iter().all(|a| i.contains_key(*a)))
            .count() as i64
    };
    let want = [
        ("by_status", holds(&["status", "at"])),
        ("by_owner", holds(&["owner"])),
        ("by_region", holds(&["region", "at"])),
    ];
    let want_lsi = holds(&["at"]);
    cases
        .run("index ItemCounts follow the writes", async {
            poll("index ItemCounts to follow the writes", || async {
                let t = describe(&c, "orders").await;
                want.iter()
                    .all(|(name, n)| gsi_of(&t, name).and_then(|g| g.item_count()) == Some(*n))
                    && t.local_secondary_indexes()[0].item_count() == Some(want_lsi)
            })
            .await;
        })
        .await;
    // DeleteTable describes the table without its keys and indexes, which
    // DescribeTable gives.
    cases
        .run(
            "DeleteTable describes the table without its keys and indexes",
            async {
                let gone = c
                    .delete_table()
                    .table_name("orders")
                    .send()
                    .await
                    .expect("delete orders")
                    .table_description
                    .expect("a description");
                assert!(gone.key_schema().is_empty(), "{gone:?}");
                assert!(gone.attribute_definitions().is_empty(), "{gone:?}");
                assert!(gone.global_secondary_indexes().is_empty(), "{gone:?}");
                assert!(gone.local_secondary_indexes().is_empty(), "{gone:?}");
            },
        )
        .await;
    cluster.shutdown().await;
    cases.finish();
}
