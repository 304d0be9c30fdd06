//! A fresh PostgreSQL schema for one run of the server binary, shared by the restart test
//! and the load benchmark (which includes this file with `#[path]`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh schema for the run in the database `url` names (as the server's API tests
/// make one): the server is given the URL with `search_path` set to it, and the schema is
/// dropped with everything in it when this is.
pub struct PgSchema {
    admin_url: String,
    name: String,
    /// The database URL with `search_path` set to the schema, for the server.
    pub url: String,
}

impl PgSchema {
    pub fn create(admin_url: &str, label: &str) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("ratchetkit_{label}_{}_{nanos}", std::process::id());
        pg_execute(admin_url, &format!("CREATE SCHEMA {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_search_path(admin_url, &name),
            name,
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = pg_execute(&self.admin_url, &sql) {
            eprintln!("could not drop the schema {}: {e}", self.name);
        }
    }
}

/// Runs one statement on the database `url` names.
fn pg_execute(url: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let connection = tokio::spawn(connection);
        let result = client
            .batch_execute(sql)
            .await
            .map_err(|e| format!("{sql}: {e}"));
        drop(client);
        let _ = connection.await;
        result
    })
}

/// `url` (a `postgres://` URL) with the connection option `-c search_path=SCHEMA`.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}
