//! The model store: published classifiers, their weights and who may
//! delete them, in SQLite (one file beside the server, the default) or in
//! PostgreSQL (several replicas sharing one store), through sqlx.
//!
//! A model is one row, weights included, written by one statement: a
//! publish interrupted at any moment (a `kill -9`, a power cut) leaves the
//! whole model or nothing, and whatever was committed is served after a
//! restart (SQLite in WAL mode with `synchronous=FULL`; PostgreSQL's own
//! commit). The limits on how many models the store holds and how many one
//! client address may publish in an hour are counted in the same
//! statement, so they hold across replicas: PostgreSQL takes a transaction
//! lock first, SQLite runs one writer at a time.
//!
//! Both databases run the same SQL (SQLite reads `$1` as PostgreSQL does);
//! only the table's types differ ([`Kind::schema`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};

use crate::error::{Error, Result};

/// The store when `--database` says nothing: a file in the directory the
/// server starts in (git-ignored in this repository).
pub const DEFAULT_DATABASE: &str = "sqlite:neuralpad-models.db";

/// Connections each server keeps to PostgreSQL: several replicas together
/// stay far below its default `max_connections` (100).
const POSTGRES_CONNECTIONS: u32 = 8;
/// SQLite: one writer at a time anyway; a few readers beside it.
const SQLITE_CONNECTIONS: u32 = 4;
/// How long a statement waits for another's lock before it fails.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// The key of PostgreSQL's transaction lock that makes publishes (and the
/// table's creation) one at a time across replicas: "npad" in ASCII.
const PUBLISH_LOCK: i64 = 0x6e70_6164;

/// The columns a listing reads: everything but the weights and the token.
macro_rules! summary_columns {
    () => {
        "id, name, classes, network, parameters, accuracy, test_images, \
         created_ms, size_bytes, weights_sha256"
    };
}

/// The table, with `$blob` and `$float` this database's names for bytes and
/// doubles.
macro_rules! models_table {
    ($blob:literal, $float:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS models (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                classes TEXT NOT NULL,
                network TEXT NOT NULL,
                parameters BIGINT NOT NULL,
                accuracy ",
            $float,
            ",
                test_images BIGINT,
                created_ms BIGINT NOT NULL,
                client TEXT NOT NULL,
                token_sha256 ",
            $blob,
            " NOT NULL,
                size_bytes BIGINT NOT NULL,
                weights_sha256 TEXT NOT NULL,
                weights ",
            $blob,
            " NOT NULL
            )"
        )
    };
}

/// Which database holds the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    /// The table, in this database's types. `IF NOT EXISTS`: every server
    /// that starts runs it, and the first one makes the table.
    fn schema(self) -> [&'static str; 3] {
        [
            match self {
                Kind::Sqlite => models_table!("BLOB", "REAL"),
                Kind::Postgres => models_table!("BYTEA", "DOUBLE PRECISION"),
            },
            "CREATE INDEX IF NOT EXISTS models_by_client ON models (client, created_ms)",
            "CREATE INDEX IF NOT EXISTS models_by_created ON models (created_ms)",
        ]
    }
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$p` bound to the pool, whichever the database: the
/// same SQL and the same decoding, typed for each.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// An open store.
pub struct Store {
    pool: Pool,
    /// Where it is, as the server prints it (no password).
    shown: String,
}

/// A model as listed: everything but its weights and its token.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub classes: Vec<String>,
    /// The layers in a line ([`crate::nn::spec::NetworkSpec::describe`]).
    pub network: String,
    pub parameters: u64,
    /// Accuracy on MNIST's test images, for a digit model measured when it
    /// was published.
    pub accuracy: Option<f64>,
    pub test_images: Option<u64>,
    /// When it was published, in milliseconds since 1970 (UTC).
    pub created_ms: i64,
    pub size_bytes: u64,
    /// SHA-256 of the weights file, hex.
    pub weights_sha256: String,
}

/// A model to store.
pub struct NewModel {
    pub summary: Summary,
    /// Who published it: the client's address, for the hourly limit.
    pub client: String,
    /// SHA-256 of the token that may delete it.
    pub token_sha256: [u8; 32],
    pub weights: Vec<u8>,
}

/// How many models may be published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Models in the store at once.
    pub max_models: u64,
    /// Models one client address may publish in any hour.
    pub per_client_hour: u64,
}

/// Why a model was not stored.
#[derive(Debug)]
pub enum Refusal {
    /// The store holds `max_models` already.
    Full { max_models: u64 },
    /// This client published `per_client_hour` models in the last hour;
    /// the oldest of them leaves the window in `retry_after_s`.
    TooOften {
        per_client_hour: u64,
        retry_after_s: u64,
    },
    /// The database failed.
    Failed(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Failed(e)
    }
}

const HOUR_MS: i64 = 3_600_000;

fn db_error(what: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Io {
        path: format!("model store ({what})"),
        problem: e.to_string(),
    }
}

impl Store {
    /// Open (and on first use create) the store at `url`:
    /// `sqlite:PATH` (the file is made when missing), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub async fn open(url: &str) -> Result<Store> {
        let bad = |problem: String| Error::Input {
            what: "database",
            problem,
        };
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad(format!("{url:?}: {e}")))?
                .create_if_missing(true)
                // A reader never waits for the writer, and a commit is on
                // disk before it is answered.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(LOCK_WAIT)
                .disable_statement_logging();
            let shown = format!("SQLite {}", options.get_filename().display());
            let pool = SqlitePoolOptions::new()
                .max_connections(SQLITE_CONNECTIONS)
                .acquire_timeout(LOCK_WAIT)
                .connect_with(options)
                .await
                .map_err(|e| bad(format!("{shown}: {e}")))?;
            Store {
                pool: Pool::Sqlite(pool),
                shown,
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| bad(format!("{}: {e}", without_password(url))))?
                .disable_statement_logging();
            let shown = format!(
                "PostgreSQL {}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or("")
            );
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_CONNECTIONS)
                .acquire_timeout(LOCK_WAIT)
                .connect_with(options)
                .await
                .map_err(|e| bad(format!("{shown}: {e}")))?;
            Store {
                pool: Pool::Postgres(pool),
                shown,
            }
        } else {
            return Err(bad(format!(
                "{:?}: use sqlite:PATH (such as {DEFAULT_DATABASE}) or postgres://USER@HOST:PORT/DATABASE",
                without_password(url)
            )));
        };
        store.create().await?;
        Ok(store)
    }

    pub fn kind(&self) -> Kind {
        match self.pool {
            Pool::Sqlite(_) => Kind::Sqlite,
            Pool::Postgres(_) => Kind::Postgres,
        }
    }

    /// Where the store is, for the server's first lines.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    async fn create(&self) -> Result<()> {
        let schema = self.kind().schema();
        let e = db_error("creating the table");
        on_pool!(self, p => {
            let mut tx = p.begin().await.map_err(&e)?;
            if self.kind() == Kind::Postgres {
                // Two replicas starting at once must not both create the
                // table: PostgreSQL's IF NOT EXISTS is not safe against that.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PUBLISH_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(&e)?;
            }
            for statement in schema {
                sqlx::query(statement).execute(&mut *tx).await.map_err(&e)?;
            }
            tx.commit().await.map_err(&e)?;
        });
        Ok(())
    }

    /// Store `model` unless a limit says no; the check and the insert are
    /// one statement, under PostgreSQL's publish lock.
    pub async fn publish(
        &self,
        model: &NewModel,
        limits: StoreLimits,
        now_ms: i64,
    ) -> std::result::Result<(), Refusal> {
        let e = db_error("publishing");
        let s = &model.summary;
        let classes = serde_json::to_string(&s.classes).expect("names serialise");
        let since = now_ms - HOUR_MS;
        let stored = on_pool!(self, p => {
            let mut tx = p.begin().await.map_err(&e)?;
            if self.kind() == Kind::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PUBLISH_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(&e)?;
            }
            let done = sqlx::query(
                "INSERT INTO models (id, name, classes, network, parameters, accuracy, \
                 test_images, created_ms, client, token_sha256, size_bytes, weights_sha256, weights) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
                 WHERE (SELECT COUNT(*) FROM models) < $14 \
                 AND (SELECT COUNT(*) FROM models WHERE client = $9 AND created_ms > $15) < $16",
            )
            .bind(&s.id)
            .bind(&s.name)
            .bind(&classes)
            .bind(&s.network)
            .bind(s.parameters as i64)
            .bind(s.accuracy)
            .bind(s.test_images.map(|n| n as i64))
            .bind(s.created_ms)
            .bind(&model.client)
            .bind(&model.token_sha256[..])
            .bind(s.size_bytes as i64)
            .bind(&s.weights_sha256)
            .bind(&model.weights)
            .bind(limits.max_models as i64)
            .bind(since)
            .bind(limits.per_client_hour as i64)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            done.rows_affected() == 1
        });
        if stored {
            return Ok(());
        }
        // Refused: say which limit (the counts may have moved since, but
        // one of them was at its limit when the insert ran).
        if self.count().await? >= limits.max_models {
            return Err(Refusal::Full {
                max_models: limits.max_models,
            });
        }
        let oldest = self.oldest_since(&model.client, since).await?;
        Err(Refusal::TooOften {
            per_client_hour: limits.per_client_hour,
            retry_after_s: oldest.map_or(1, |t| ((t + HOUR_MS - now_ms) as u64).div_ceil(1000)),
        })
    }

    /// Would `client` be refused for publishing too often now? Checked
    /// before the (slow) measuring of a model; the insert checks again.
    pub async fn too_often(
        &self,
        client: &str,
        limits: StoreLimits,
        now_ms: i64,
    ) -> std::result::Result<(), Refusal> {
        let since = now_ms - HOUR_MS;
        let e = db_error("counting");
        let n: i64 = on_pool!(self, p => sqlx::query(
            "SELECT COUNT(*) FROM models WHERE client = $1 AND created_ms > $2")
            .bind(client)
            .bind(since)
            .fetch_one(p)
            .await
            .map_err(&e)?
            .try_get(0)
            .map_err(&e)?);
        if (n as u64) < limits.per_client_hour {
            return Ok(());
        }
        let oldest = self.oldest_since(client, since).await?;
        Err(Refusal::TooOften {
            per_client_hour: limits.per_client_hour,
            retry_after_s: oldest.map_or(1, |t| ((t + HOUR_MS - now_ms) as u64).div_ceil(1000)),
        })
    }

    async fn oldest_since(&self, client: &str, since: i64) -> Result<Option<i64>> {
        let e = db_error("counting");
        on_pool!(self, p => sqlx::query(
            "SELECT MIN(created_ms) FROM models WHERE client = $1 AND created_ms > $2")
            .bind(client)
            .bind(since)
            .fetch_one(p)
            .await
            .map_err(&e)?
            .try_get::<Option<i64>, _>(0)
            .map_err(&e))
    }

    /// Models in the store.
    pub async fn count(&self) -> Result<u64> {
        let e = db_error("counting");
        let n: i64 = on_pool!(self, p => sqlx::query("SELECT COUNT(*) FROM models")
            .fetch_one(p)
            .await
            .map_err(&e)?
            .try_get(0)
            .map_err(&e)?);
        Ok(n as u64)
    }

    /// Up to `limit` models, the newest first, after skipping `offset`.
    pub async fn list(&self, offset: u64, limit: u64) -> Result<Vec<Summary>> {
        let e = db_error("listing");
        const SQL: &str = concat!(
            "SELECT ",
            summary_columns!(),
            " FROM models ORDER BY created_ms DESC, id LIMIT $1 OFFSET $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(SQL)
                .bind(limit as i64)
                .bind(offset as i64)
                .fetch_all(p)
                .await
                .map_err(&e)?;
            rows.iter().map(|r| summary(r).map_err(&e)).collect()
        })
    }

    /// One model, if it is there.
    pub async fn get(&self, id: &str) -> Result<Option<Summary>> {
        let e = db_error("reading");
        const SQL: &str = concat!("SELECT ", summary_columns!(), " FROM models WHERE id = $1");
        on_pool!(self, p => {
            let row = sqlx::query(SQL).bind(id).fetch_optional(p).await.map_err(&e)?;
            row.as_ref().map(summary).transpose().map_err(&e)
        })
    }

    /// A model's classes and weights file, if it is there.
    pub async fn weights(&self, id: &str) -> Result<Option<(Vec<String>, Vec<u8>)>> {
        let e = db_error("reading weights");
        let row: Option<(String, Vec<u8>)> = on_pool!(self, p => {
            sqlx::query("SELECT classes, weights FROM models WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .map_err(&e)?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
                .map_err(&e)?
        });
        row.map(|(classes, w)| Ok((parse_classes(&classes)?, w)))
            .transpose()
    }

    /// Whether a model is there (cheap: what a classification checks, so
    /// that a model deleted through another replica is gone here too).
    pub async fn exists(&self, id: &str) -> Result<bool> {
        let e = db_error("reading");
        on_pool!(self, p => Ok(sqlx::query("SELECT 1 FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(&e)?
            .is_some()))
    }

    /// The SHA-256 of the token that may delete a model, if it is there.
    pub async fn token_sha256(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let e = db_error("reading");
        on_pool!(self, p => {
            let row = sqlx::query("SELECT token_sha256 FROM models WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .map_err(&e)?;
            row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose().map_err(&e)
        })
    }

    /// Delete a model if its token's hash is still `token_sha256` (checked
    /// by the caller in constant time); whether it was there.
    pub async fn delete(&self, id: &str, token_sha256: &[u8]) -> Result<bool> {
        let e = db_error("deleting");
        on_pool!(self, p => Ok(sqlx::query("DELETE FROM models WHERE id = $1 AND token_sha256 = $2")
            .bind(id)
            .bind(token_sha256)
            .execute(p)
            .await
            .map_err(&e)?
            .rows_affected() == 1))
    }

    /// Close the connections (SQLite checkpoints its log into the file).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

fn parse_classes(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Io {
        path: "model store".into(),
        problem: format!("a model's classes are not a JSON list: {e}"),
    })
}

/// A row of `summary_columns!()`, in their order.
fn summary<R: Row>(r: &R) -> std::result::Result<Summary, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let classes: String = r.try_get(2)?;
    Ok(Summary {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        classes: parse_classes(&classes).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
        network: r.try_get(3)?,
        parameters: r.try_get::<i64, _>(4)? as u64,
        accuracy: r.try_get(5)?,
        test_images: r.try_get::<Option<i64>, _>(6)?.map(|n| n as u64),
        created_ms: r.try_get(7)?,
        size_bytes: r.try_get::<i64, _>(8)? as u64,
        weights_sha256: r.try_get(9)?,
    })
}

/// A database URL as it may be shown: any password replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(200).collect();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    let shown = match auth.map(|a| a.split_once(':')) {
        Some(Some((user, _))) => format!("{scheme}://{user}:***@{host}"),
        Some(None) => format!("{scheme}://{}@{host}", auth.unwrap_or_default()),
        None => format!("{scheme}://{host}"),
    };
    shown.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            without_password("postgres://np:s3cret@db:5432/models"),
            "postgres://np:***@db:5432/models"
        );
        assert_eq!(
            without_password("postgres://np@db/models"),
            "postgres://np@db/models"
        );
        assert_eq!(without_password("sqlite:x.db"), "sqlite:x.db");
    }
}
