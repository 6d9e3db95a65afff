//! Tables of refused requests run as cases: each row's request must be
//! refused with the table's error code and a message that says what the row
//! says; a wrong row fails as its own case.

use super::Cases;
use crate::sdk::{Refusal, expect_refused};

impl Cases {
    /// Runs each row of `rows` as a case named after it.
    pub async fn refused<'a>(&mut self, code: &str, rows: impl IntoIterator<Item = Refusal<'a>>) {
        for (name, request, says) in rows {
            self.run(name, async {
                let msg = expect_refused(request.await, code, name);
                says.check(&msg, name);
            })
            .await;
        }
    }
}
