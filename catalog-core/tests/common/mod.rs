#![allow(clippy::unwrap_used, dead_code)] // test fixtures: each test file uses some; a failed setup fails loudly
//! A catalog on a real store: a SQLite file or a fresh Postgres database, and a local warehouse.

use std::collections::HashMap;
use std::sync::Arc;

use frazil_catalog::store::SqlStore;
use frazil_catalog::{
    Catalog, CreateTable, Environment, NamespaceIdent, Principal, Role, StoragePolicy, TableIdent,
};
use frazil_storage::StorageConfig;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use sqlx::Connection;

pub struct Harness {
    pub store_name: &'static str,
    pub catalog: Catalog,
    pub env: Environment,
    /// The storage root: the environment lives at `{root}/acme/prod`.
    pub root: StorageConfig,
    _dir: tempfile::TempDir,
    pub store: SqlStore,
    pub url: String,
    postgres_db: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("FRAZIL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("frazil.db").display());
        Self::open("sqlite", &url, dir, None).await
    }

    pub async fn postgres() -> Harness {
        let admin = postgres_admin_url();
        let name = format!("frazil_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres at {admin} is needed for the store tests (scripts/ensure-postgres.sh starts it): {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Self::open("postgres", &url, tempfile::tempdir().unwrap(), Some(name)).await
    }

    async fn open(
        store_name: &'static str,
        url: &str,
        dir: tempfile::TempDir,
        postgres_db: Option<String>,
    ) -> Harness {
        let store = SqlStore::connect(url, 8).await.unwrap();
        store.migrate().await.unwrap();
        let warehouse = url::Url::from_directory_path(dir.path().join("warehouse")).unwrap();
        let root = StorageConfig {
            location: warehouse.to_string(),
            s3: None,
            provider_integration: None,
        };
        let policy = StoragePolicy::new(vec![root.clone()]).unwrap();
        let catalog = Catalog::new(Arc::new(store.clone())).with_storage_policy(policy);
        let env = catalog
            .ensure_environment("acme", "prod", root.clone())
            .await
            .unwrap();
        Harness {
            store_name,
            catalog,
            env,
            root,
            _dir: dir,
            store,
            url: url.to_string(),
            postgres_db,
        }
    }

    /// Both stores, for tests that must pass on each.
    pub async fn both() -> Vec<Harness> {
        vec![Self::sqlite().await, Self::postgres().await]
    }

    pub async fn close(self) {
        self.store.close().await;
        if let Some(name) = self.postgres_db {
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }

    pub async fn namespace(&self, name: &str) -> NamespaceIdent {
        let ns = ns(&[name]);
        self.catalog
            .create_namespace(&self.env, &ns, HashMap::new())
            .await
            .unwrap();
        ns
    }

    pub async fn table(&self, ns: &NamespaceIdent, name: &str) -> TableIdent {
        self.catalog
            .create_table(&self.env, ns, create(name))
            .await
            .unwrap();
        TableIdent::new(ns.clone(), name).unwrap()
    }

    /// Another replica: a catalog of its own (own caches, own commit locks) over the same store.
    pub fn replica(&self) -> Catalog {
        Catalog::new(Arc::new(self.store.clone()))
    }

    /// Another replica as a separate server process has it: its own connections to the
    /// database, so it hears of other replicas' changes only through the database (Postgres'
    /// LISTEN/NOTIFY). Its cached table pointers live `pointer_ttl`.
    pub async fn remote_replica(&self, pointer_ttl: std::time::Duration) -> (Catalog, SqlStore) {
        let store = SqlStore::connect(&self.url, 4).await.unwrap();
        let catalog = Catalog::with_pointer_ttl(Arc::new(store.clone()), pointer_ttl);
        (catalog, store)
    }

    /// The file a `file://` location names.
    pub fn path_of(&self, location: &str) -> std::path::PathBuf {
        url::Url::parse(location).unwrap().to_file_path().unwrap()
    }
}

/// The server administrator.
pub fn server_admin() -> Principal {
    Principal {
        key_id: "server-admin".into(),
        org_id: None,
        env_id: None,
        role: Role::Admin,
    }
}

/// An organization's admin.
pub fn org_admin(org: &str) -> Principal {
    Principal {
        key_id: format!("{org}-admin"),
        org_id: Some(org.into()),
        env_id: None,
        role: Role::Admin,
    }
}

pub fn ns(levels: &[&str]) -> NamespaceIdent {
    NamespaceIdent::new(levels.iter().map(|l| l.to_string()).collect()).unwrap()
}

pub fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            NestedField::optional(2, "payload", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap()
}

pub fn create(name: &str) -> CreateTable {
    CreateTable {
        name: name.to_string(),
        location: None,
        schema: schema(),
        partition_spec: None,
        sort_order: None,
        properties: HashMap::new(),
        stage_create: false,
    }
}

pub fn metadata(text: &str) -> iceberg::spec::TableMetadata {
    serde_json::from_str(text).unwrap()
}
