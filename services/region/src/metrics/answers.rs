//! The DynamoDB endpoint's answers counted as CloudWatch counts them in
//! its DynamoDB metrics ([DynamoDB metrics and dimensions](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html)):
//! `UserErrors` is every HTTP 400 but a conditional check failed and a
//! throttle ("A throttled request will result in an HTTP 400 status code.
//! All such events are reflected in the ThrottledRequests metric, but not
//! in the UserErrors metric"), `SystemErrors` every HTTP 500,
//! `ThrottledRequests` every request refused for throughput. DynamoDB
//! answers 400 and 500; the few plain HTTP answers of this endpoint (413
//! for a body past its limit, 503 when it is overloaded) count as the
//! 4xx or 5xx they are. A region's status carries the counts
//! ([`Answers::to_pb`]) so a cluster's alarms, and a drill's against it,
//! can watch the application's errors as CloudWatch would show them.

use std::sync::atomic::{AtomicU64, Ordering};

use meridian_proto::v1 as pb;

/// The error types a request refused for throughput answers.
const THROTTLES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Which of CloudWatch's counts an answer adds to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub user_error: bool,
    pub system_error: bool,
    pub throttled: bool,
}

impl Answer {
    /// The answer of HTTP `status` whose DynamoDB error type is
    /// `error_type` (none on a success or a plain HTTP answer).
    pub fn of(status: u16, error_type: Option<&str>) -> Answer {
        let throttled = error_type.is_some_and(|t| THROTTLES.contains(&t));
        let excluded = throttled || error_type == Some("ConditionalCheckFailedException");
        Answer {
            user_error: (400..500).contains(&status) && !excluded,
            system_error: status >= 500,
            throttled,
        }
    }
}

/// The counts since the region started.
#[derive(Debug, Default)]
pub struct Answers {
    requests: AtomicU64,
    user_errors: AtomicU64,
    system_errors: AtomicU64,
    throttled: AtomicU64,
}

impl Answers {
    pub fn count(&self, a: Answer) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        for (yes, c) in [
            (a.user_error, &self.user_errors),
            (a.system_error, &self.system_errors),
            (a.throttled, &self.throttled),
        ] {
            if yes {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn to_pb(&self) -> pb::RequestCounts {
        pb::RequestCounts {
            requests: self.requests.load(Ordering::Relaxed),
            user_errors: self.user_errors.load(Ordering::Relaxed),
            system_errors: self.system_errors.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_as_cloudwatch_counts_them() {
        let a = |status, t| Answer::of(status, t);
        let answer = |user_error, system_error, throttled| Answer {
            user_error,
            system_error,
            throttled,
        };
        assert_eq!(a(200, None), answer(false, false, false));
        assert_eq!(
            a(400, Some("ValidationException")),
            answer(true, false, false)
        );
        assert_eq!(a(413, None), answer(true, false, false));
        // The two 400s UserErrors leaves out.
        assert_eq!(
            a(400, Some("ConditionalCheckFailedException")),
            answer(false, false, false)
        );
        assert_eq!(
            a(400, Some("ProvisionedThroughputExceededException")),
            answer(false, false, true)
        );
        assert_eq!(
            a(400, Some("ThrottlingException")),
            answer(false, false, true)
        );
        assert_eq!(
            a(500, Some("InternalServerError")),
            answer(false, true, false)
        );
        assert_eq!(a(503, None), answer(false, true, false));

        let counts = Answers::default();
        for x in [
            a(200, None),
            a(400, Some("ValidationException")),
            a(400, Some("ThrottlingException")),
            a(500, None),
        ] {
            counts.count(x);
        }
        assert_eq!(
            counts.to_pb(),
            pb::RequestCounts {
                requests: 4,
                user_errors: 1,
                system_errors: 1,
                throttled: 1,
            }
        );
    }
}
