//! Section 3: The sparse rule: items move into, out of and between index partitions
//! with every write API.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_move_in_out_and_between_index_partitions_with_every_write() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "tasks";
    create_table_request(&c, t, ("id", TS), None)
        .attribute_definitions(def("state", TS))
        .global_secondary_indexes(gsi("by_state", &["state"], &[], all()))
        .send()
        .await
        .expect("create tasks");
    let ix = "by_state";
    let check =
        |open: &'static [&'static str], done: &'static [&'static str], what: &'static str| {
            let c = c.clone();
            async move {
                assert_eq!(
                    ids_where(&c, t, ix, "state", "open").await,
                    set(open),
                    "open after {what}"
                );
                assert_eq!(
                    ids_where(&c, t, ix, "state", "done").await,
                    set(done),
                    "done after {what}"
                );
                let mut every = set(open);
                every.extend(set(done));
                assert_eq!(ids_in_index(&c, t, ix).await, every, "scan after {what}");
            }
        };

    put(
        &c,
        t,
        item([("id", s("a1")), ("state", s("open")), ("v", n(1))]),
    )
    .await;
    put(&c, t, item([("id", s("a2")), ("v", n(2))])).await;
    put(&c, t, item([("id", s("a3")), ("state", s("done"))])).await;
    let mut cases = Cases::new();
    cases
        .run("puts", async {
            check(&["a1"], &["a3"], "puts").await;
        })
        .await;

    let update = |id: &str, expr: &str, vals: Vec<(&str, AttributeValue)>| {
        let mut u = c
            .update_item()
            .table_name(t)
            .set_key(Some(id_key(id)))
            .update_expression(expr);
        for (k, v) in vals {
            u = u.expression_attribute_values(k, v);
        }
        u
    };
    cases
        .run("UpdateItem SET changes the key", async {
            update("a1", "SET #s = :s", vec![(":s", s("done"))])
                .expression_attribute_names("#s", "state")
                .send()
                .await
                .expect("move a1");
            check(&[], &["a1", "a3"], "UpdateItem SET changes the key").await;
        })
        .await;
    cases
        .run("UpdateItem SET adds the key", async {
            update("a2", "SET #s = :s", vec![(":s", s("open"))])
                .expression_attribute_names("#s", "state")
                .send()
                .await
                .expect("add a2");
            check(&["a2"], &["a1", "a3"], "UpdateItem SET adds the key").await;
        })
        .await;
    cases
        .run("UpdateItem REMOVE", async {
            update("a3", "REMOVE #s", vec![])
                .expression_attribute_names("#s", "state")
                .send()
                .await
                .expect("remove a3's key");
            check(&["a2"], &["a1"], "UpdateItem REMOVE").await;
        })
        .await;
    // A change of another attribute keeps the entry, and the index shows it.
    cases
        .run("a non-key update", async {
            update("a2", "SET v = :v", vec![(":v", n(42))])
                .send()
                .await
                .expect("update v");
            let got = query_all(
                c.query()
                    .table_name(t)
                    .index_name(ix)
                    .key_condition_expression("#s = :s")
                    .expression_attribute_names("#s", "state")
                    .expression_attribute_values(":s", s("open")),
                &set(&["state", "id"]),
            )
            .await;
            assert_eq!(got.len(), 1);
            assert_eq!(
                got[0].get("v"),
                Some(&n(42)),
                "the index shows the item's new value"
            );
            check(&["a2"], &["a1"], "a non-key update").await;
        })
        .await;
    // A put replacing an item without the key takes it out.
    cases
        .run("PutItem replaces without the key", async {
            put(&c, t, item([("id", s("a1")), ("v", n(3))])).await;
            check(&["a2"], &[], "PutItem replaces without the key").await;
        })
        .await;
    cases
        .run("DeleteItem", async {
            c.delete_item()
                .table_name(t)
                .set_key(Some(id_key("a2")))
                .send()
                .await
                .expect("delete a2");
            check(&[], &[], "DeleteItem").await;
        })
        .await;

    // BatchWriteItem: puts in, deletes out, a replacing put moves.
    cases
        .run("BatchWriteItem", async {
            put(&c, t, item([("id", s("b9")), ("state", s("open"))])).await;
            let mut writes: Vec<WriteRequest> = (1..=5)
                .map(|i| put_req(item([("id", s(&format!("b{i}"))), ("state", s("open"))])))
                .collect();
            writes.push(put_req(item([("id", s("a1")), ("state", s("done"))])));
            writes.push(put_req(item([("id", s("b9")), ("state", s("done"))])));
            writes.push(delete_req(id_key("a3")));
            let out = c
                .batch_write_item()
                .request_items(t, writes)
                .send()
                .await
                .expect("batch write");
            assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
            check(
                &["b1", "b2", "b3", "b4", "b5"],
                &["a1", "b9"],
                "BatchWriteItem",
            )
            .await;
        })
        .await;
    cases
        .run("BatchWriteItem deletes", async {
            let out = c
                .batch_write_item()
                .request_items(t, vec![delete_req(id_key("b9")), delete_req(id_key("b5"))])
                .send()
                .await
                .expect("batch delete");
            assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
            check(&["b1", "b2", "b3", "b4"], &["a1"], "BatchWriteItem deletes").await;
        })
        .await;

    // TransactWriteItems: a put, an update moving an item, a delete, an
    // update removing the key. First one refused (a name placeholder not
    // defined): it changes nothing.
    cases
        .run("a refused transaction", async {
            let r = c
                .transact_write_items()
                .transact_items(tx_put(t, item([("id", s("b6")), ("state", s("open"))])))
                .transact_items(tx_update(
                    t,
                    id_key("b1"),
                    "SET #s = :s",
                    &[(":s", s("done"))],
                ))
                .transact_items(tx_delete(t, id_key("b2")))
                .send()
                .await;
            expect_code(r, "ValidationException", "an undefined #s");
            check(&["b1", "b2", "b3", "b4"], &["a1"], "a refused transaction").await;
        })
        .await;
    let named = |key: &str, expr: &str, v: Option<&str>| {
        let mut u = Update::builder()
            .table_name(t)
            .set_key(Some(id_key(key)))
            .update_expression(expr)
            .expression_attribute_names("#s", "state");
        if let Some(v) = v {
            u = u.expression_attribute_values(":s", s(v));
        }
        TransactWriteItem::builder()
            .update(u.build().unwrap())
            .build()
    };
    cases
        .run("TransactWriteItems", async {
            c.transact_write_items()
                .transact_items(tx_put(t, item([("id", s("b6")), ("state", s("open"))])))
                .transact_items(named("b1", "SET #s = :s", Some("done")))
                .transact_items(tx_delete(t, id_key("b2")))
                .transact_items(named("a1", "REMOVE #s", None))
                .transact_items(named("b7", "SET #s = :s", Some("done")))
                .send()
                .await
                .expect("transaction");
            check(&["b3", "b4", "b6"], &["b1", "b7"], "TransactWriteItems").await;
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
