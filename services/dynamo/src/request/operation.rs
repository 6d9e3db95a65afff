//! The operations this endpoint serves, each named once: the name a
//! client's `X-Amz-Target` gives, the API it belongs to, and what the
//! front does around it (metering, a listing to filter by account).

use crate::error::{ApiError, ApiResult, Kind};

/// The API of an `X-Amz-Target`: DynamoDB's (`DynamoDB_20120810.`) or
/// DynamoDB Streams' (`DynamoDBStreams_20120810.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Dynamo,
    Streams,
}

macro_rules! operations {
    ($($api:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        /// One operation this endpoint serves.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Operation {
            $($($name,)*)*
        }

        impl Operation {
            /// Every operation.
            pub(crate) const ALL: &[Operation] = &[$($(Operation::$name,)*)*];

            /// Its name, as a target names it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $($(Operation::$name => stringify!($name),)*)*
                }
            }

            /// The API it belongs to.
            #[cfg(test)]
            pub(crate) fn api(self) -> Api {
                match self {
                    $($(Operation::$name => Api::$api,)*)*
                }
            }

            fn named(api: Api, name: &str) -> Option<Operation> {
                match name {
                    $($(stringify!($name) if api == Api::$api => Some(Operation::$name),)*)*
                    _ => None,
                }
            }
        }
    };
}

operations! {
    Dynamo: [
        CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable,
        UpdateTableReplicaAutoScaling, DescribeTableReplicaAutoScaling,
        TagResource, UntagResource, ListTagsOfResource,
        UpdateTimeToLive, DescribeTimeToLive,
        DescribeKinesisStreamingDestination, EnableKinesisStreamingDestination,
        DisableKinesisStreamingDestination, UpdateKinesisStreamingDestination,
        DescribeContinuousBackups, UpdateContinuousBackups, RestoreTableToPointInTime,
        CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup,
        CreateGlobalTable, DescribeGlobalTable, DescribeGlobalTableSettings,
        ListGlobalTables, UpdateGlobalTable, UpdateGlobalTableSettings,
        PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy,
        UpdateContributorInsights, DescribeContributorInsights, ListContributorInsights,
        PutItem, GetItem, DeleteItem, UpdateItem, Query, Scan,
        BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems,
        ExecuteStatement, BatchExecuteStatement, ExecuteTransaction,
        DescribeEndpoints, DescribeLimits,
    ],
    Streams: [ListStreams, DescribeStream, GetShardIterator, GetRecords],
}

/// The prefix of an `X-Amz-Target` of DynamoDB.
const DYNAMO_PREFIX: &str = "DynamoDB_20120810.";
/// The prefix of an `X-Amz-Target` of DynamoDB Streams.
const STREAMS_PREFIX: &str = "DynamoDBStreams_20120810.";

/// The API and operation name an `X-Amz-Target` names, if it is of either
/// API.
pub(crate) fn target(target: &str) -> Option<(Api, &str)> {
    match target.strip_prefix(DYNAMO_PREFIX) {
        Some(name) => Some((Api::Dynamo, name)),
        None => Some((Api::Streams, target.strip_prefix(STREAMS_PREFIX)?)),
    }
}

impl Operation {
    /// The operation an `X-Amz-Target` names, if this endpoint serves it.
    pub(crate) fn of_target(t: &str) -> Option<Operation> {
        let (api, name) = target(t)?;
        Operation::named(api, name)
    }

    /// The operation `name` of `api`, or DynamoDB's refusal of an
    /// operation it does not know (this endpoint's list:
    /// docs/dynamodb-compat.md).
    pub(crate) fn of(api: Api, name: &str) -> ApiResult<Operation> {
        Operation::named(api, name).ok_or_else(|| {
            ApiError::new(
                Kind::UnknownOperation,
                match api {
                    Api::Dynamo => format!(
                        "Operation {name} is not supported by this endpoint; see docs/dynamodb-compat.md"
                    ),
                    Api::Streams => {
                        format!("Operation {name} is not part of the DynamoDB Streams API")
                    }
                },
            )
        })
    }

    /// Whether the request draws on provisioned throughput
    /// (`crate::throttle`): the data plane.
    pub(crate) fn draws_throughput(self) -> bool {
        use Operation::*;
        matches!(
            self,
            PutItem
                | UpdateItem
                | DeleteItem
                | GetItem
                | Query
                | Scan
                | BatchWriteItem
                | BatchGetItem
                | TransactWriteItems
                | TransactGetItems
                | ExecuteStatement
                | BatchExecuteStatement
                | ExecuteTransaction
        )
    }

    /// A batch: the answer member its requests of throttled tables come
    /// back in.
    pub(crate) fn unprocessed(self) -> Option<&'static str> {
        match self {
            Operation::BatchWriteItem => Some("UnprocessedItems"),
            Operation::BatchGetItem => Some("UnprocessedKeys"),
            _ => None,
        }
    }

    /// A request of one item: the member that holds its key (or the item),
    /// whose partition key places it in one of its table's partitions
    /// (`crate::throttle`).
    pub(crate) fn one_item(self) -> Option<&'static str> {
        match self {
            Operation::GetItem | Operation::UpdateItem | Operation::DeleteItem => Some("Key"),
            Operation::PutItem => Some("Item"),
            _ => None,
        }
    }

    /// A transaction, whose payload DynamoDB bounds
    /// ([`crate::MAX_TRANSACTION_BYTES`]).
    pub(crate) fn transaction(self) -> bool {
        matches!(
            self,
            Operation::TransactWriteItems | Operation::TransactGetItems
        )
    }

    /// A listing of several tables' resources: the answer member whose
    /// entries (each with its `TableName`) are left out when another
    /// account's (`crate::accounts::Owners::filter_listing`).
    pub(crate) fn listing(self) -> Option<&'static str> {
        match self {
            Operation::ListStreams => Some("Streams"),
            Operation::ListBackups => Some("BackupSummaries"),
            Operation::ListContributorInsights => Some("ContributorInsightsSummaries"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_found_by_its_name_in_its_own_api_only() {
        for &op in Operation::ALL {
            assert_eq!(Operation::of(op.api(), op.name()).unwrap(), op);
            let other = match op.api() {
                Api::Dynamo => Api::Streams,
                Api::Streams => Api::Dynamo,
            };
            assert!(Operation::of(other, op.name()).is_err(), "{op:?}");
        }
        assert_eq!(
            Operation::of_target("DynamoDBStreams_20120810.GetRecords"),
            Some(Operation::GetRecords)
        );
        for t in [
            "DynamoDB_20120810.GetRecords",
            "PutItem",
            "",
            "DynamoDB_20120810.",
        ] {
            assert_eq!(Operation::of_target(t), None, "{t}");
        }
        let e = Operation::of(Api::Dynamo, "ExportTableToPointInTime").unwrap_err();
        assert_eq!(e.kind, Kind::UnknownOperation);
    }
}
