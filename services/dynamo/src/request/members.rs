//! Where each operation names a resource: every member of its request that
//! botocore's model gives a resource's shape (`model-members.txt`, written
//! by `.ci/resource_members.py`), with what it names and how the front
//! checks it. The tests below hold this list to the model: a member the
//! model has and this list misses fails them.

use meridian_core::throughput::Op as Access;

use super::Operation;
use Operation::*;

/// What a member names, which decides whether the caller's account must
/// own it (`Kind::owned`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An existing table, by its name.
    Table,
    /// The ARN of a table or of what is under it (an index, a stream, a
    /// backup): the table it is under. Another ARN (a Kinesis stream's)
    /// names nothing here.
    Arn,
    /// A shard iterator: a position in a table's stream.
    Iterator,
    /// A PartiQL statement: the table (and index) its `FROM` names.
    Statement,
    /// An index of the table the request names, which is checked as that
    /// table.
    Index,
    /// The table the operation makes: a name in use is refused by the
    /// operation as in use, whoever's it is.
    Created,
    /// The table whose replica a multi-account CreateTable makes
    /// (`GlobalTableSourceArn`): another account's by design, checked by
    /// the join against the policies (`crate::multi_account`).
    Source,
    /// A version 2017.11.29 global table, which no table here is
    /// (`crate::global_legacy`).
    Legacy,
    /// Where a listing starts: a listing shows the caller's own only.
    Cursor,
}

impl Kind {
    /// Whether a request naming it is refused unless the table is the
    /// caller's account's.
    pub(crate) fn owned(self) -> bool {
        matches!(
            self,
            Kind::Table | Kind::Arn | Kind::Iterator | Kind::Statement
        )
    }
}

/// One resource-naming member of one operation's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub op: Operation,
    /// Its place, as `model-members.txt` writes it: member names joined by
    /// `.`, `[]` after a list, `{key}` for a map's keys; `*` is any member
    /// (each action of a transaction).
    pub path: &'static str,
    pub kind: Kind,
    /// A table's ARN is taken for its name (DynamoDB's `TableArn` shape),
    /// and the request then reads the name.
    pub arn: bool,
    /// The provisioned throughput the request draws on, for a data-plane
    /// request; a statement's is its own.
    pub access: Option<Access>,
}

const fn m(op: Operation, path: &'static str, kind: Kind) -> Member {
    Member {
        op,
        path,
        kind,
        arn: false,
        access: None,
    }
}

/// A table by name or by ARN.
const fn t(op: Operation, access: Option<Access>) -> Member {
    Member {
        op,
        path: "TableName",
        kind: Kind::Table,
        arn: true,
        access,
    }
}

const R: Option<Access> = Some(Access::Read);
const W: Option<Access> = Some(Access::Write);

/// Every member of every operation that names a resource, each
/// operation's in the order the account check reads them (the first
/// another account's is the one the refusal names).
pub(crate) const MEMBERS: &[Member] = &[
    Member {
        kind: Kind::Created,
        ..t(CreateTable, None)
    },
    m(
        CreateTable,
        "LocalSecondaryIndexes[].IndexName",
        Kind::Index,
    ),
    m(
        CreateTable,
        "GlobalSecondaryIndexes[].IndexName",
        Kind::Index,
    ),
    m(CreateTable, "GlobalTableSourceArn", Kind::Source),
    t(DescribeTable, None),
    m(ListTables, "ExclusiveStartTableName", Kind::Cursor),
    t(DeleteTable, None),
    t(UpdateTable, None),
    m(
        UpdateTable,
        "GlobalSecondaryIndexUpdates[].*.IndexName",
        Kind::Index,
    ),
    m(
        UpdateTable,
        "ReplicaUpdates[].*.GlobalSecondaryIndexes[].IndexName",
        Kind::Index,
    ),
    t(UpdateTableReplicaAutoScaling, None),
    m(
        UpdateTableReplicaAutoScaling,
        "GlobalSecondaryIndexUpdates[].IndexName",
        Kind::Index,
    ),
    m(
        UpdateTableReplicaAutoScaling,
        "ReplicaUpdates[].ReplicaGlobalSecondaryIndexUpdates[].IndexName",
        Kind::Index,
    ),
    t(DescribeTableReplicaAutoScaling, None),
    m(TagResource, "ResourceArn", Kind::Arn),
    m(UntagResource, "ResourceArn", Kind::Arn),
    m(ListTagsOfResource, "ResourceArn", Kind::Arn),
    t(UpdateTimeToLive, None),
    t(DescribeTimeToLive, None),
    t(DescribeKinesisStreamingDestination, None),
    t(EnableKinesisStreamingDestination, None),
    m(EnableKinesisStreamingDestination, "StreamArn", Kind::Arn),
    t(DisableKinesisStreamingDestination, None),
    m(DisableKinesisStreamingDestination, "StreamArn", Kind::Arn),
    t(UpdateKinesisStreamingDestination, None),
    m(UpdateKinesisStreamingDestination, "StreamArn", Kind::Arn),
    t(DescribeContinuousBackups, None),
    t(UpdateContinuousBackups, None),
    m(RestoreTableToPointInTime, "SourceTableName", Kind::Table),
    m(RestoreTableToPointInTime, "SourceTableArn", Kind::Arn),
    m(RestoreTableToPointInTime, "TargetTableName", Kind::Created),
    m(
        RestoreTableToPointInTime,
        "GlobalSecondaryIndexOverride[].IndexName",
        Kind::Index,
    ),
    m(
        RestoreTableToPointInTime,
        "LocalSecondaryIndexOverride[].IndexName",
        Kind::Index,
    ),
    t(CreateBackup, None),
    m(DescribeBackup, "BackupArn", Kind::Arn),
    t(ListBackups, None),
    m(ListBackups, "ExclusiveStartBackupArn", Kind::Cursor),
    m(DeleteBackup, "BackupArn", Kind::Arn),
    m(RestoreTableFromBackup, "BackupArn", Kind::Arn),
    m(RestoreTableFromBackup, "TargetTableName", Kind::Created),
    m(
        RestoreTableFromBackup,
        "GlobalSecondaryIndexOverride[].IndexName",
        Kind::Index,
    ),
    m(
        RestoreTableFromBackup,
        "LocalSecondaryIndexOverride[].IndexName",
        Kind::Index,
    ),
    m(CreateGlobalTable, "GlobalTableName", Kind::Legacy),
    m(DescribeGlobalTable, "GlobalTableName", Kind::Legacy),
    m(DescribeGlobalTableSettings, "GlobalTableName", Kind::Legacy),
    m(
        ListGlobalTables,
        "ExclusiveStartGlobalTableName",
        Kind::Cursor,
    ),
    m(UpdateGlobalTable, "GlobalTableName", Kind::Legacy),
    m(UpdateGlobalTableSettings, "GlobalTableName", Kind::Legacy),
    m(
        UpdateGlobalTableSettings,
        "GlobalTableGlobalSecondaryIndexSettingsUpdate[].IndexName",
        Kind::Index,
    ),
    m(
        UpdateGlobalTableSettings,
        "ReplicaSettingsUpdate[].ReplicaGlobalSecondaryIndexSettingsUpdate[].IndexName",
        Kind::Index,
    ),
    m(PutResourcePolicy, "ResourceArn", Kind::Arn),
    m(GetResourcePolicy, "ResourceArn", Kind::Arn),
    m(DeleteResourcePolicy, "ResourceArn", Kind::Arn),
    t(UpdateContributorInsights, None),
    m(UpdateContributorInsights, "IndexName", Kind::Index),
    t(DescribeContributorInsights, None),
    m(DescribeContributorInsights, "IndexName", Kind::Index),
    t(ListContributorInsights, None),
    t(PutItem, W),
    t(GetItem, R),
    t(DeleteItem, W),
    t(UpdateItem, W),
    t(Query, R),
    m(Query, "IndexName", Kind::Index),
    t(Scan, R),
    m(Scan, "IndexName", Kind::Index),
    Member {
        path: "RequestItems{key}",
        ..t(BatchGetItem, R)
    },
    Member {
        path: "RequestItems{key}",
        ..t(BatchWriteItem, W)
    },
    // Every member of every action: an action with two is refused by its
    // operation, and must not hide a table from the check meanwhile.
    Member {
        path: "TransactItems[].*.TableName",
        ..t(TransactWriteItems, W)
    },
    Member {
        path: "TransactItems[].*.TableName",
        ..t(TransactGetItems, R)
    },
    m(ExecuteStatement, "Statement", Kind::Statement),
    m(
        BatchExecuteStatement,
        "Statements[].Statement",
        Kind::Statement,
    ),
    m(
        ExecuteTransaction,
        "TransactStatements[].Statement",
        Kind::Statement,
    ),
    m(ListStreams, "TableName", Kind::Table),
    m(ListStreams, "ExclusiveStartStreamArn", Kind::Cursor),
    m(DescribeStream, "StreamArn", Kind::Arn),
    m(GetShardIterator, "StreamArn", Kind::Arn),
    m(GetRecords, "ShardIterator", Kind::Iterator),
];
