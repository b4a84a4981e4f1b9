use super::*;
use crate::testbed::postgres::Postgres;

#[tokio::test]
async fn conformance() {
    let url = Postgres::shared().unwrap().create_database().await.unwrap();
    let index = PgIndex::connect(&url, 4).await.unwrap();
    crate::store::index::testsuite::run(&index).await;
}
