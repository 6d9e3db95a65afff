//! PartiQL on the DynamoDB endpoint, driven by the real AWS SDK for Rust:
//! ExecuteStatement (INSERT, SELECT by key, Query and Scan with paging,
//! UPDATE, DELETE), BatchExecuteStatement and ExecuteTransaction, every
//! literal kind and parameters, and the errors DynamoDB gives — plus a
//! statement written in one region read in another.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::execute_statement::{
    ExecuteStatementError, ExecuteStatementOutput,
};
use aws_sdk_dynamodb::operation::execute_transaction::ExecuteTransactionError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementErrorCodeEnum, BatchStatementRequest, ParameterizedStatement,
    ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use meridian_tests::{TestCluster, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

// ---- helpers ---------------------------------------------------------------

#[track_caller]
fn assert_items(got: &[Item], want: &[Item], what: &str) {
    let got: Vec<Item> = got.iter().map(norm_item).collect();
    let want: Vec<Item> = want.iter().map(norm_item).collect();
    assert_eq!(got, want, "{what}");
}

/// Runs a statement that must succeed.
async fn exec(c: &Client, statement: &str, params: Vec<AttributeValue>) -> ExecuteStatementOutput {
    c.execute_statement()
        .statement(statement)
        .set_parameters((!params.is_empty()).then_some(params))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e:?}"))
}

fn stmt(statement: &str, params: Vec<AttributeValue>) -> BatchStatementRequest {
    BatchStatementRequest::builder()
        .statement(statement)
        .set_parameters((!params.is_empty()).then_some(params))
        .build()
        .unwrap()
}

fn tx(statement: &str) -> ParameterizedStatement {
    ParameterizedStatement::builder()
        .statement(statement)
        .build()
        .unwrap()
}

// ---- ExecuteStatement: writes ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_replicates_and_a_select_by_key_reads_it_in_another_region() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table(
        &east,
        "Music",
        ("Artist", ScalarAttributeType::S),
        Some(("SongTitle", ScalarAttributeType::S)),
    )
    .await;
    poll_until("Music in eu-west-1", Duration::from_secs(20), || async {
        west.describe_table()
            .table_name("Music")
            .send()
            .await
            .is_ok()
    })
    .await;

    let out = exec(
        &east,
        r#"INSERT INTO "Music" VALUE {'Artist': ?, 'SongTitle': 'PartiQL Rocks', 'Year': 2021, 'Awards': <<'Grammy'>>}"#,
        vec![s("Acme Band")],
    )
    .await;
    assert!(
        out.items().is_empty(),
        "an INSERT returns no items: {out:?}"
    );

    // Read it back with PartiQL in the other region once it has arrived.
    let select = r#"SELECT * FROM "Music" WHERE "Artist" = 'Acme Band' AND SongTitle = ?"#;
    let want = item([
        ("Artist", s("Acme Band")),
        ("SongTitle", s("PartiQL Rocks")),
        ("Year", n(2021)),
        ("Awards", AttributeValue::Ss(vec!["Grammy".into()])),
    ]);
    let read = |c: Client| async move {
        c.execute_statement()
            .statement(select)
            .parameters(s("PartiQL Rocks"))
            .send()
            .await
            .map(|o| o.items().to_vec())
    };
    poll_until(
        "the INSERT in eu-west-1",
        Duration::from_secs(20),
        || async {
            read(west.clone())
                .await
                .is_ok_and(|items| !items.is_empty())
        },
    )
    .await;
    let seen = read(west.clone()).await.expect("SELECT in eu-west-1");
    assert_items(
        &seen,
        std::slice::from_ref(&want),
        "SELECT by key in eu-west-1",
    );

    // The same key again is DynamoDB's DuplicateItemException, in either region.
    for c in [&east, &west] {
        let r = c
            .execute_statement()
            .statement(r#"INSERT INTO "Music" VALUE {'Artist': 'Acme Band', 'SongTitle': 'PartiQL Rocks'}"#)
            .send()
            .await;
        assert!(
            matches!(
                r.as_ref().map_err(|e| e.as_service_error()),
                Err(Some(ExecuteStatementError::DuplicateItemException(_)))
            ),
            "duplicate INSERT: {r:?}"
        );
        let msg = expect_code(r, "DuplicateItemException", "duplicate INSERT");
        assert_eq!(msg, "Duplicate primary key exists in table");
    }
    // ... and it changed nothing.
    let key = item([
        ("Artist", s("Acme Band")),
        ("SongTitle", s("PartiQL Rocks")),
    ]);
    assert_items(
        &[get(&east, "Music", key).await.expect("the item")],
        &[want],
        "after the duplicate",
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_act_on_one_existing_item() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "items",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    exec(
        &c,
        "INSERT INTO items VALUE {'pk': 'a', 'sk': 1, 'n': 10, 'l': [1], 'tags': <<'x'>>, 'gone': 'yes', 'status': 'new'}",
        vec![],
    )
    .await;
    let key = || item([("pk", s("a")), ("sk", n(1))]);

    // SET with arithmetic, list_append and set_add; REMOVE; RETURNING ALL NEW.
    // `status` is a DynamoDB reserved word: PartiQL needs no placeholder for it.
    let out = exec(
        &c,
        "UPDATE items SET n = n + 5, l = list_append(l, [2, 3]), status = 'seen' \
         SET tags = set_add(tags, <<'y'>>) REMOVE gone WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *",
        vec![],
    )
    .await;
    let after = item([
        ("pk", s("a")),
        ("sk", n(1)),
        ("n", n(15)),
        ("l", AttributeValue::L(vec![n(1), n(2), n(3)])),
        ("tags", AttributeValue::Ss(vec!["x".into(), "y".into()])),
        ("status", s("seen")),
    ]);
    assert_items(
        out.items(),
        std::slice::from_ref(&after),
        "RETURNING ALL NEW *",
    );
    assert_items(
        &[get(&c, "items", key()).await.expect("the item")],
        &[after],
        "stored",
    );

    let out = exec(
        &c,
        "UPDATE items SET n = ? SET tags = set_delete(tags, <<'x'>>) WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED OLD *",
        vec![n(0)],
    )
    .await;
    assert_items(
        out.items(),
        &[item([
            ("n", n(15)),
            ("tags", AttributeValue::Ss(vec!["x".into(), "y".into()])),
        ])],
        "RETURNING MODIFIED OLD *",
    );
    let out = exec(
        &c,
        "UPDATE items SET n = 1 WHERE pk = 'a' AND sk = 1",
        vec![],
    )
    .await;
    assert!(out.items().is_empty(), "no RETURNING, no items: {out:?}");

    // An UPDATE never creates an item.
    let r = c
        .execute_statement()
        .statement("UPDATE items SET n = 1 WHERE pk = 'nobody' AND sk = 1")
        .send()
        .await;
    let msg = expect_code(
        r,
        "ConditionalCheckFailedException",
        "UPDATE of a missing item",
    );
    assert_eq!(msg, "The conditional request failed");
    assert_eq!(
        get(&c, "items", item([("pk", s("nobody")), ("sk", n(1))])).await,
        None
    );

    // The other WHERE terms are its condition; ALL_OLD returns the item.
    let r = c
        .execute_statement()
        .statement("UPDATE items SET n = 2 WHERE pk = 'a' AND sk = 1 AND status = 'new'")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match r.as_ref().map_err(|e| e.as_service_error()) {
        Err(Some(ExecuteStatementError::ConditionalCheckFailedException(e))) => {
            let old = e.item().expect("the item, as ALL_OLD asked");
            assert_eq!(old.get("status"), Some(&s("seen")));
        }
        other => panic!("a false condition: {other:?}"),
    }

    // A key attribute must be an equality, and cannot be SET.
    expect_validation(
        c.execute_statement()
            .statement("UPDATE items SET n = 2 WHERE pk = 'a'")
            .send()
            .await,
        "Where clause does not contain a mandatory equality on all key attributes",
        "UPDATE without the sort key",
    );
    expect_validation(
        c.execute_statement()
            .statement("UPDATE items SET sk = 2 WHERE pk = 'a' AND sk = 1")
            .send()
            .await,
        "Cannot update attribute sk. This attribute is part of the key",
        "UPDATE of a key attribute",
    );

    // DELETE: a false condition fails, RETURNING ALL OLD returns the item,
    // and a missing item is deleted without error.
    let r = c
        .execute_statement()
        .statement("DELETE FROM items WHERE pk = 'a' AND sk = 1 AND n > 100")
        .send()
        .await;
    expect_code(
        r,
        "ConditionalCheckFailedException",
        "DELETE with a false condition",
    );
    let out = exec(
        &c,
        "DELETE FROM items WHERE pk = 'a' AND sk = 1 AND n < 100 RETURNING ALL OLD *",
        vec![],
    )
    .await;
    assert_eq!(out.items().len(), 1, "{out:?}");
    assert_eq!(out.items()[0].get("n"), Some(&n(1)));
    assert_eq!(get(&c, "items", key()).await, None);
    let out = exec(
        &c,
        "DELETE FROM items WHERE pk = 'a' AND sk = 1 AND n < 100",
        vec![],
    )
    .await;
    assert!(out.items().is_empty());
    expect_validation(
        c.execute_statement()
            .statement("DELETE FROM items WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")
            .send()
            .await,
        "Only RETURNING ALL OLD * is allowed in DELETE statements.",
        "DELETE RETURNING ALL NEW",
    );
    cluster.shutdown().await;
}

// ---- ExecuteStatement: reads -----------------------------------------------

/// Every page of a statement, following NextToken; checks each page's
/// LastEvaluatedKey goes with its NextToken.
async fn all_pages(c: &Client, statement: &str, limit: i32) -> (Vec<Item>, usize) {
    let (mut items, mut pages, mut token) = (Vec::new(), 0, None);
    loop {
        let out = c
            .execute_statement()
            .statement(statement)
            .limit(limit)
            .set_next_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        pages += 1;
        assert!(out.items().len() <= limit as usize, "{out:?}");
        assert_eq!(
            out.next_token().is_some(),
            out.last_evaluated_key().is_some(),
            "{out:?}"
        );
        items.extend(out.items().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return (items, pages);
        }
        assert!(pages < 100, "{statement}: pages never end");
    }
}

fn sort_keys(items: &[Item]) -> Vec<u32> {
    items
        .iter()
        .map(|i| i["sk"].as_n().expect("sk is a number").parse().unwrap())
        .collect()
}

async fn capacity(c: &Client, statement: &str) -> (Vec<Item>, f64) {
    let out = c
        .execute_statement()
        .statement(statement)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    assert!(out.next_token().is_none(), "one page: {out:?}");
    let used = out
        .consumed_capacity()
        .and_then(|c| c.capacity_units())
        .expect("ConsumedCapacity");
    (out.items().to_vec(), used)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_queries_a_partition_scans_otherwise_and_pages_with_next_token() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "events",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    // Partition a: twelve small items. Partition b: ten items of 6 KB.
    let mut writes: Vec<Item> = (1..=12)
        .map(|i| {
            let kind = if i % 2 == 0 { "even" } else { "odd" };
            item([("pk", s("a")), ("sk", n(i)), ("kind", s(kind))])
        })
        .collect();
    writes.extend(
        (1..=10).map(|i| item([("pk", s("b")), ("sk", n(i)), ("blob", s(&"x".repeat(6000)))])),
    );
    put_many(&c, "events", writes).await;

    // The partition key makes a Query: sort-key order, either way.
    let out = exec(&c, "SELECT * FROM events WHERE pk = 'a'", vec![]).await;
    assert_eq!(sort_keys(out.items()), (1..=12).collect::<Vec<_>>());
    let out = exec(
        &c,
        "SELECT * FROM events WHERE pk = 'a' ORDER BY sk DESC",
        vec![],
    )
    .await;
    assert_eq!(sort_keys(out.items()), (1..=12).rev().collect::<Vec<_>>());
    let out = exec(
        &c,
        "SELECT sk FROM events WHERE pk = 'a' AND sk BETWEEN 3 AND 6",
        vec![],
    )
    .await;
    assert_items(
        out.items(),
        &(3..=6).map(|i| item([("sk", n(i))])).collect::<Vec<_>>(),
        "projection and BETWEEN",
    );
    let out = exec(
        &c,
        "SELECT * FROM events WHERE pk = 'a' AND sk > ? AND kind = 'even'",
        vec![n(8)],
    )
    .await;
    assert_eq!(
        sort_keys(out.items()),
        vec![10, 12],
        "a sort-key range and a filter"
    );
    // Two ranges on the sort key: a Query may not filter on a key, so this
    // reads as a Scan, with the same answer.
    let out = exec(
        &c,
        "SELECT * FROM events WHERE pk = 'a' AND sk > 2 AND sk < 5",
        vec![],
    )
    .await;
    assert_eq!(sort_keys(out.items()), vec![3, 4], "two sort-key ranges");

    // The same items by a Query and by a Scan: the Scan reads partition b too.
    let (queried, query_units) = capacity(
        &c,
        "SELECT * FROM events WHERE pk = 'a' AND kind IS NOT MISSING",
    )
    .await;
    let (scanned, scan_units) = capacity(
        &c,
        "SELECT * FROM events WHERE pk IN ['a'] AND kind IS NOT MISSING",
    )
    .await;
    assert_eq!(sort_keys(&queried), (1..=12).collect::<Vec<_>>());
    let mut scanned_keys = sort_keys(&scanned);
    scanned_keys.sort();
    assert_eq!(scanned_keys, (1..=12).collect::<Vec<_>>());
    assert!(
        scan_units > 5.0 && query_units < 1.0,
        "a Query reads one partition ({query_units} units), a Scan the table ({scan_units} units)"
    );

    // The full key reads one item, or none.
    let (got, units) = capacity(&c, "SELECT kind FROM events WHERE sk = 4 AND pk = 'a'").await;
    assert_items(
        &got,
        &[item([("kind", s("even"))])],
        "GetItem by the full key",
    );
    assert_eq!(units, 0.5, "one small item, eventually consistent");
    let out = c
        .execute_statement()
        .statement("SELECT * FROM events WHERE pk = 'a' AND sk = 99")
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        out.items().is_empty() && out.next_token().is_none(),
        "{out:?}"
    );

    // Paging: Limit counts items read; NextToken continues where it stopped.
    let (items, pages) = all_pages(&c, "SELECT * FROM events WHERE pk = 'a'", 5).await;
    assert_eq!(sort_keys(&items), (1..=12).collect::<Vec<_>>());
    assert!(pages >= 3, "{pages} pages");
    let (items, pages) = all_pages(&c, "SELECT pk, sk FROM events", 7).await;
    let mut keys: Vec<(String, u32)> = items
        .iter()
        .map(|i| {
            (
                i["pk"].as_s().unwrap().clone(),
                i["sk"].as_n().unwrap().parse().unwrap(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 22, "every item once over {pages} pages");
    assert!(items.iter().all(|i| i.len() == 2), "projected pages");

    // A token belongs to its statement and parameters.
    let first = c
        .execute_statement()
        .statement("SELECT * FROM events WHERE pk = ?")
        .parameters(s("a"))
        .limit(2)
        .send()
        .await
        .unwrap();
    let token = first.next_token().expect("a NextToken").to_string();
    let second = c
        .execute_statement()
        .statement("SELECT * FROM events WHERE pk = ?")
        .parameters(s("a"))
        .next_token(&token)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(sort_keys(second.items()), vec![3, 4]);
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM events WHERE pk = ?")
            .parameters(s("b"))
            .next_token(&token)
            .send()
            .await,
        "NextToken does not match request",
        "a token with other parameters",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM events")
            .next_token("not-a-token")
            .send()
            .await,
        "Invalid NextToken",
        "a made-up token",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM events")
            .limit(0)
            .send()
            .await,
        "at 'limit' failed to satisfy constraint",
        "Limit 0",
    );

    // An index the table does not have.
    expect_validation(
        c.execute_statement()
            .statement(r#"SELECT * FROM "events"."by_kind" WHERE kind = 'odd'"#)
            .send()
            .await,
        "The table does not have the specified index",
        "an index",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM events WHERE kind = 'odd' ORDER BY sk")
            .send()
            .await,
        "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause.",
        "ORDER BY on a Scan",
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_and_parameters_round_trip_and_bad_statements_are_refused() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "kinds", ("id", ScalarAttributeType::S), None).await;

    exec(
        &c,
        "INSERT INTO kinds VALUE {'id': 'k1', 'str': 'it''s', 'int': 42, 'neg': -7, 'dec': 3.25, 'exp': -1.5e2, \
         't': TRUE, 'f': false, 'nul': NULL, 'gone': MISSING, 'l': [1, 'two', [TRUE]], \
         'm': {'inner': {'deep': [0, 'x']}}, 'ss': <<'b', 'a'>>, 'ns': <<1, 2.5>>, \
         'bin': ?, 'bs': ?, 'pm': ?, 'name': ?}",
        vec![
            AttributeValue::B(Blob::new(vec![0u8, 1, 255])),
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
            AttributeValue::M(item([("p", n(1))])),
            s("reserved words need no quoting"),
        ],
    )
    .await;
    let want = item([
        ("id", s("k1")),
        ("str", s("it's")),
        ("int", n(42)),
        ("neg", n(-7)),
        ("dec", n("3.25")),
        ("exp", n(-150)),
        ("t", AttributeValue::Bool(true)),
        ("f", AttributeValue::Bool(false)),
        ("nul", AttributeValue::Null(true)),
        (
            "l",
            AttributeValue::L(vec![
                n(1),
                s("two"),
                AttributeValue::L(vec![AttributeValue::Bool(true)]),
            ]),
        ),
        (
            "m",
            AttributeValue::M(item([(
                "inner",
                AttributeValue::M(item([("deep", AttributeValue::L(vec![n(0), s("x")]))])),
            )])),
        ),
        ("ss", AttributeValue::Ss(vec!["a".into(), "b".into()])),
        ("ns", AttributeValue::Ns(vec!["1".into(), "2.5".into()])),
        ("bin", AttributeValue::B(Blob::new(vec![0u8, 1, 255]))),
        (
            "bs",
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
        ),
        ("pm", AttributeValue::M(item([("p", n(1))]))),
        ("name", s("reserved words need no quoting")),
    ]);
    let stored = get(&c, "kinds", item([("id", s("k1"))]))
        .await
        .expect("the item");
    assert_items(&[stored], std::slice::from_ref(&want), "every literal kind");

    // Parameters and functions in a WHERE clause; a path into a map and list.
    let out = exec(
        &c,
        "SELECT id, m.inner.deep[1], name FROM kinds WHERE id = ? AND size(l) = ? AND contains(ss, ?) \
         AND attribute_type(exp, ?) AND m.inner.deep[1] = ? AND nul IS NULL AND gone IS MISSING \
         AND t = TRUE AND int IN [1, 42] AND dec BETWEEN 3 AND 4 AND begins_with(str, 'it') AND NOT neg >= 0",
        vec![s("k1"), n(3), s("a"), s("N"), s("x")],
    )
    .await;
    assert_items(
        out.items(),
        &[item([
            ("id", s("k1")),
            (
                "m",
                AttributeValue::M(item([(
                    "inner",
                    AttributeValue::M(item([("deep", AttributeValue::L(vec![s("x")]))])),
                )])),
            ),
            ("name", s("reserved words need no quoting")),
        ])],
        "a filter of every operator",
    );
    let out = exec(
        &c,
        "SELECT * FROM kinds WHERE id = 'k1' AND int <> 42",
        vec![],
    )
    .await;
    assert!(out.items().is_empty());

    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM kinds WHERE id = ? AND int = ?")
            .parameters(s("k1"))
            .send()
            .await,
        "Number of parameters in request and statement don't match.",
        "too few parameters",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELEC * FROM kinds")
            .send()
            .await,
        "Statement wasn't well formed, can't be processed: unexpected 'SELEC', expected SELECT, INSERT, UPDATE or DELETE at line 1, column 1",
        "a misspelt keyword",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM kinds WHERE id = 'k1' AND")
            .send()
            .await,
        "Statement wasn't well formed, can't be processed: unexpected the end of the statement, expected a value, an attribute or '(' at line 1, column 40",
        "a dangling AND",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM kinds k JOIN other o")
            .send()
            .await,
        "Aliasing is not supported",
        "an alias",
    );
    expect_validation(
        c.execute_statement()
            .statement("SELECT * FROM kinds, other")
            .send()
            .await,
        "Only select from a single table or index is supported.",
        "two tables",
    );
    expect_validation(
        c.execute_statement()
            .statement("INSERT INTO kinds VALUE {'id': 'k2', 'id': 'k3'}")
            .send()
            .await,
        "Duplicate keys in tuple. Key: id",
        "a key twice",
    );
    expect_validation(
        c.execute_statement()
            .statement("INSERT INTO kinds VALUE {'id': 'k2', 's': <<1, 'a'>>}")
            .send()
            .await,
        "DynamoDB only supports either numbers or strings in bags",
        "a mixed bag",
    );
    expect_validation(
        c.execute_statement()
            .statement("INSERT INTO kinds VALUE {'n': 1}")
            .send()
            .await,
        "Missing the key id in the item",
        "an INSERT without its key",
    );
    expect_code(
        c.execute_statement()
            .statement("SELECT * FROM nowhere WHERE id = 'x'")
            .send()
            .await,
        "ResourceNotFoundException",
        "a missing table",
    );
    cluster.shutdown().await;
}

// ---- BatchExecuteStatement -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_execute_statement_answers_each_statement_on_its_own() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "batch", ("id", ScalarAttributeType::S), None).await;

    let out = c
        .batch_execute_statement()
        .statements(stmt(
            "INSERT INTO batch VALUE {'id': ?, 'n': 1}",
            vec![s("a")],
        ))
        .statements(stmt("INSERT INTO batch VALUE {'id': 'b', 'n': 2}", vec![]))
        .statements(stmt("INSERT INTO batch VALUE {'id': 'a', 'n': 3}", vec![]))
        .statements(stmt("UPDATE batch SET n = 9 WHERE id = 'nobody'", vec![]))
        .statements(stmt("UPDAT batch SET n = 9 WHERE id = 'a'", vec![]))
        .statements(stmt("DELETE FROM batch WHERE id = 'b' AND n = 2", vec![]))
        .statements(
            BatchStatementRequest::builder()
                .statement("UPDATE batch SET n = 5 WHERE id = 'a' AND n = 100")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .unwrap(),
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("a batch with failing statements still answers 200");
    let r = out.responses();
    assert_eq!(r.len(), 7, "{out:?}");
    for i in [0, 1, 5] {
        assert!(r[i].error().is_none(), "statement {i}: {:?}", r[i]);
        assert_eq!(r[i].table_name(), Some("batch"));
    }
    let code = |i: usize| r[i].error().and_then(|e| e.code()).cloned();
    assert_eq!(code(2), Some(BatchStatementErrorCodeEnum::DuplicateItem));
    assert_eq!(
        r[2].error().unwrap().message(),
        Some("Duplicate primary key exists in table")
    );
    assert_eq!(
        code(3),
        Some(BatchStatementErrorCodeEnum::ConditionalCheckFailed)
    );
    assert_eq!(code(4), Some(BatchStatementErrorCodeEnum::ValidationError));
    assert!(
        r[4].error()
            .unwrap()
            .message()
            .unwrap()
            .starts_with("Statement wasn't well formed")
    );
    assert_eq!(
        code(6),
        Some(BatchStatementErrorCodeEnum::ConditionalCheckFailed)
    );
    assert_eq!(
        r[6].error().unwrap().item().and_then(|i| i.get("n")),
        Some(&n(1)),
        "ALL_OLD"
    );
    let spent: Vec<_> = out
        .consumed_capacity()
        .iter()
        .map(|c| (c.table_name(), c.capacity_units()))
        .collect();
    assert_eq!(
        spent,
        vec![(Some("batch"), Some(3.0))],
        "three writes succeeded"
    );
    // The successes stuck, the failures changed nothing.
    assert_eq!(
        get(&c, "batch", item([("id", s("a"))]))
            .await
            .and_then(|i| i.get("n").cloned()),
        Some(n(1))
    );
    assert_eq!(get(&c, "batch", item([("id", s("b"))])).await, None);
    assert_eq!(get(&c, "batch", item([("id", s("nobody"))])).await, None);

    // Reads: each by its full key.
    let out = c
        .batch_execute_statement()
        .statements(stmt("SELECT * FROM batch WHERE id = ?", vec![s("a")]))
        .statements(stmt("SELECT n FROM batch WHERE id = 'gone'", vec![]))
        .statements(stmt("SELECT * FROM batch WHERE n = 1", vec![]))
        .statements(stmt("SELECT * FROM nowhere WHERE id = 'a'", vec![]))
        .send()
        .await
        .expect("a read batch");
    let r = out.responses();
    assert_items(
        &[r[0].item().cloned().unwrap()],
        &[item([("id", s("a")), ("n", n(1))])],
        "read by key",
    );
    assert!(
        r[1].item().is_none() && r[1].error().is_none(),
        "a missing item: {:?}",
        r[1]
    );
    assert_eq!(
        r[2].error().and_then(|e| e.code()),
        Some(&BatchStatementErrorCodeEnum::ValidationError)
    );
    assert!(
        r[2].error()
            .unwrap()
            .message()
            .unwrap()
            .contains("equality condition on all key attributes")
    );
    assert_eq!(
        r[3].error().and_then(|e| e.code()),
        Some(&BatchStatementErrorCodeEnum::ResourceNotFound)
    );

    expect_validation(
        c.batch_execute_statement()
            .statements(stmt("SELECT * FROM batch WHERE id = 'a'", vec![]))
            .statements(stmt("DELETE FROM batch WHERE id = 'a'", vec![]))
            .send()
            .await,
        "The entire batch must consist of either read statements or write statements, you cannot mix both in one batch.",
        "reads and writes",
    );
    let mut too_many = c.batch_execute_statement();
    for i in 0..26 {
        too_many = too_many.statements(stmt(
            &format!("SELECT * FROM batch WHERE id = '{i}'"),
            vec![],
        ));
    }
    expect_validation(
        too_many.send().await,
        "less than or equal to 25",
        "26 statements",
    );
    assert!(
        get(&c, "batch", item([("id", s("a"))])).await.is_some(),
        "the mixed batch ran nothing"
    );
    cluster.shutdown().await;
}

// ---- ExecuteTransaction ----------------------------------------------------

fn balance(i: &Option<Item>) -> Option<i64> {
    i.as_ref()?.get("balance")?.as_n().ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_transaction_writes_reads_and_cancels_as_one() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "accounts", ("id", ScalarAttributeType::S), None).await;
    exec(
        &c,
        "INSERT INTO accounts VALUE {'id': 'alice', 'balance': 100}",
        vec![],
    )
    .await;
    exec(
        &c,
        "INSERT INTO accounts VALUE {'id': 'bob', 'balance': 0}",
        vec![],
    )
    .await;
    let key = |id: &str| item([("id", s(id))]);

    // A transfer: both updates and the log entry, or none. Sent twice with
    // one token, it is applied once.
    let transfer = || {
        c.execute_transaction()
            .transact_statements(tx(
                "UPDATE accounts SET balance = balance - 30 WHERE id = 'alice' AND balance >= 30",
            ))
            .transact_statements(
                ParameterizedStatement::builder()
                    .statement("UPDATE accounts SET balance = balance + ? WHERE id = ?")
                    .parameters(n(30))
                    .parameters(s("bob"))
                    .build()
                    .unwrap(),
            )
            .transact_statements(tx(
                "INSERT INTO accounts VALUE {'id': 'log-1', 'amount': 30}",
            ))
            .client_request_token("transfer-1")
    };
    let out = transfer().send().await.expect("the transfer");
    assert_eq!(
        out.responses,
        Some(Vec::new()),
        "writes answer an empty Responses, as DynamoDB: {out:?}"
    );
    transfer()
        .send()
        .await
        .expect("the same request, same token");
    assert_eq!(balance(&get(&c, "accounts", key("alice")).await), Some(70));
    assert_eq!(balance(&get(&c, "accounts", key("bob")).await), Some(30));
    assert!(get(&c, "accounts", key("log-1")).await.is_some());

    // Reads: one snapshot, one response per statement, in order.
    let out = c
        .execute_transaction()
        .transact_statements(tx("SELECT balance FROM accounts WHERE id = 'alice'"))
        .transact_statements(tx("SELECT * FROM accounts WHERE id = 'nobody'"))
        .transact_statements(tx("SELECT * FROM accounts WHERE id = 'bob'"))
        .send()
        .await
        .expect("a read transaction");
    let r = out.responses();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].item(), Some(&item([("balance", n(70))])));
    assert_eq!(r[1].item(), None);
    assert_eq!(r[2].item().and_then(|i| i.get("balance")), Some(&n(30)));

    // A failed condition cancels everything, with a reason per statement.
    let r = c
        .execute_transaction()
        .transact_statements(tx(
            "UPDATE accounts SET balance = balance - 1000 WHERE id = 'alice' AND balance >= 1000",
        ))
        .transact_statements(tx(
            "INSERT INTO accounts VALUE {'id': 'log-2', 'amount': 1000}",
        ))
        .transact_statements(tx(
            "INSERT INTO accounts VALUE {'id': 'log-1', 'amount': 0}",
        ))
        .send()
        .await;
    match r.as_ref().map_err(|e| e.as_service_error()) {
        Err(Some(ExecuteTransactionError::TransactionCanceledException(e))) => {
            let codes: Vec<Option<&str>> =
                e.cancellation_reasons().iter().map(|r| r.code()).collect();
            assert_eq!(
                codes,
                vec![
                    Some("ConditionalCheckFailed"),
                    Some("None"),
                    Some("DuplicateItem")
                ]
            );
            assert_eq!(
                e.message(),
                Some(
                    "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, DuplicateItem]"
                )
            );
        }
        other => panic!("a cancelled transaction: {other:?}"),
    }
    assert_eq!(
        get(&c, "accounts", key("log-2")).await,
        None,
        "nothing of it was applied"
    );
    assert_eq!(balance(&get(&c, "accounts", key("alice")).await), Some(70));

    expect_validation(
        c.execute_transaction()
            .transact_statements(tx("SELECT * FROM accounts WHERE id = 'alice'"))
            .transact_statements(tx("DELETE FROM accounts WHERE id = 'bob'"))
            .send()
            .await,
        "The entire transaction must consist of either read statements or write statements, you cannot mix both in one transaction.",
        "reads and writes",
    );
    expect_validation(
        c.execute_transaction()
            .transact_statements(tx("SELECT * FROM accounts WHERE balance > 0"))
            .send()
            .await,
        "Validation failed in statements[0]: Select statements within ExecuteTransaction must specify the primary key in the where clause",
        "a read without its key",
    );
    expect_validation(
        c.execute_transaction()
            .transact_statements(tx("DELETE FROM accounts WHERE id = 'bob'"))
            .transact_statements(tx("UPDATE accounts SET x = 1 WHERE id = 'bob'"))
            .send()
            .await,
        "Transaction request cannot include multiple operations on one item",
        "one item twice",
    );
    expect_code(
        c.execute_transaction()
            .transact_statements(tx("DELETE FROM accounts WHERE id = 'bob'"))
            .client_request_token("transfer-1")
            .send()
            .await,
        "IdempotentParameterMismatchException",
        "a token reused for another request",
    );
    assert!(
        get(&c, "accounts", key("bob")).await.is_some(),
        "the refused requests changed nothing"
    );
    cluster.shutdown().await;
}
