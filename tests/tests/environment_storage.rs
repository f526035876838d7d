//! Tenants cannot choose where Frazil stores things: the server reaches storage with its own
//! identity, so an organization admin's environment goes to `{root}/{org}/{env}`, asking for a
//! location or an S3 endpoint is 403, and no two environments (nor the server's own database)
//! share a directory (409). Run against the real binary on both stores.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, ensure};
use frazil_tests::{
    bearer_client, directory_url, send, Admin, Credential, Environment, Server, Store, ENV, ORG,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

macro_rules! per_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                let server = Server::start(Store::Sqlite).await;
                super::report(&server, super::$name(&server).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                let server = Server::start(Store::Postgres).await;
                super::report(&server, super::$name(&server).await)
            }
        }
    )*};
}

per_store!(
    tenants_cannot_choose_storage,
    an_org_admin_s3_endpoint_reaches_no_host,
    environments_do_not_overlap,
    storage_is_checked_when_set,
);

fn report(server: &Server, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
    outcome.map_err(|e| anyhow!("{e:#}\n--- frazil log ---\n{}", server.log_text()))
}

/// An organization with an organization-wide admin key, and the admin API with its token.
async fn org_admin(server: &Server, admin: &Admin, org: &str) -> anyhow::Result<Admin> {
    admin.create_organization(org, org).await?;
    let (status, key) = admin
        .request(
            Method::POST,
            &format!("/admin/v1/organizations/{org}/api-keys"),
            Some(&json!({"role": "admin"})),
        )
        .await?;
    ensure!(status == StatusCode::CREATED, "org key: {status} {key}");
    let credential = Credential::new(
        key["key"].as_str().unwrap_or_default(),
        key["secret"].as_str().unwrap_or_default(),
    );
    let token = server.token(&credential).await?;
    Ok(Admin::new(server.base_url().to_string(), token))
}

/// `status` with an Iceberg error body of `kind`, whose message mentions `says`.
fn expect_error(
    what: &str,
    (status, body): (StatusCode, Value),
    want: StatusCode,
    kind: &str,
    says: &str,
) -> anyhow::Result<()> {
    let message = body["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        status == want && body["error"]["type"] == json!(kind) && message.contains(says),
        "{what}: expected {want} {kind} mentioning {says:?}, got {status} {body}"
    );
    Ok(())
}

/// Registers cluster `lkc-1` and creates table `t` in it; returns its metadata location.
async fn create_table(admin: &Admin, env: &Environment) -> anyhow::Result<String> {
    admin.register_cluster(&env.org, &env.id, "lkc-1").await?;
    let http = bearer_client(admin.token())?;
    let table = json!({
        "name": "t",
        "schema": {"type": "struct", "schema-id": 0,
                   "fields": [{"id": 1, "name": "x", "required": false, "type": "long"}]},
    });
    let url = format!("{}/v1/namespaces/lkc-1/tables", env.catalog_uri);
    let (status, body) = send(http.post(&url).json(&table)).await?;
    ensure!(status == StatusCode::OK, "create table: {status} {body}");
    body["metadata-location"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no metadata-location in {body}"))
}

fn local_path(location: &str) -> anyhow::Result<PathBuf> {
    reqwest::Url::parse(location)?
        .to_file_path()
        .map_err(|()| anyhow!("not a local location: {location}"))
}

fn files_below(dir: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path);
            }
        }
    }
    Ok(files)
}

async fn create_env(
    admin: &Admin,
    org: &str,
    request: Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let path = format!("/admin/v1/organizations/{org}/environments");
    admin.request(Method::POST, &path, Some(&request)).await
}

async fn patch_env(
    admin: &Admin,
    org: &str,
    env: &str,
    request: Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let path = format!("/admin/v1/organizations/{org}/environments/{env}");
    admin.request(Method::PATCH, &path, Some(&request)).await
}

/// Tenant B's organization admin cannot put an environment on tenant A's storage or any other
/// path, by create or PATCH (403); its environments go to `{root}/{org}/{env}` and work there;
/// tenant A's files are untouched.
async fn tenants_cannot_choose_storage(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    let warehouse = directory_url(server.warehouse_dir());

    // A fresh default environment lives at {root}/default/default, like every other.
    let (status, default) = admin
        .request(
            Method::GET,
            &format!("/admin/v1/organizations/{ORG}/environments/{ENV}"),
            None,
        )
        .await?;
    ensure!(status == StatusCode::OK, "{status} {default}");
    ensure!(
        default["storage"]["location"] == json!(format!("{warehouse}/default/default")),
        "the default environment: {default}"
    );

    let tenant_a = org_admin(server, &admin, "tenant-a").await?;
    let a = tenant_a
        .create_environment_at_default("tenant-a", "prod")
        .await?;
    ensure!(
        a.location == format!("{warehouse}/tenant-a/prod"),
        "an environment without storage lands at {{root}}/{{org}}/{{env}}: {}",
        a.location
    );
    let a_metadata = create_table(&tenant_a, &a).await?;
    ensure!(
        a_metadata.starts_with(&format!("{}/lkc-1/", a.location)),
        "{a_metadata}"
    );
    let a_dir = local_path(&a.location)?;
    let a_files = files_below(&a_dir)?;
    ensure!(!a_files.is_empty(), "tenant A's table wrote no file");

    let tenant_b = org_admin(server, &admin, "tenant-b").await?;
    let outside = server.dir().join("anywhere");
    let forbidden = [
        json!({"location": a.location}),
        json!({"location": format!("{}/lkc-1", a.location)}),
        json!({"location": directory_url(&outside)}),
        json!({"location": "file:///"}),
        // Even below a configured root, choosing is a server administrator's.
        json!({"location": server.storage_location("b-chosen")?}),
        json!({"location": "s3://tenant-a-bucket/x"}),
    ];
    for storage in &forbidden {
        let answer = create_env(
            &tenant_b,
            "tenant-b",
            json!({"id": "dev", "name": "dev", "storage": storage}),
        )
        .await?;
        expect_error(
            &format!("tenant B creating at {storage}"),
            answer,
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "server administrator",
        )?;
    }
    let b = tenant_b
        .create_environment_at_default("tenant-b", "dev")
        .await?;
    ensure!(
        b.location == format!("{warehouse}/tenant-b/dev"),
        "{}",
        b.location
    );
    for storage in &forbidden {
        let answer = patch_env(&tenant_b, "tenant-b", "dev", json!({"storage": storage})).await?;
        expect_error(
            &format!("tenant B moving to {storage}"),
            answer,
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "server administrator",
        )?;
    }
    // Renaming stays an organization admin's.
    let (status, renamed) =
        patch_env(&tenant_b, "tenant-b", "dev", json!({"name": "Development"})).await?;
    ensure!(
        status == StatusCode::OK && renamed["storage"]["location"] == json!(b.location),
        "rename: {status} {renamed}"
    );

    // Tables work at B's own directory; A's files are all still there.
    let b_metadata = create_table(&tenant_b, &b).await?;
    ensure!(
        local_path(&b_metadata)?.starts_with(local_path(&b.location)?),
        "{b_metadata}"
    );
    ensure!(
        local_path(&b_metadata)?.exists(),
        "{b_metadata} was not written"
    );
    ensure!(files_below(&a_dir)? == a_files, "tenant A's files changed");
    ensure!(!outside.exists(), "{} was created", outside.display());
    Ok(())
}

/// A listener standing in for another host: counts the connections it accepts.
fn listener() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let socket = TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", socket.local_addr()?);
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in socket.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = stream.read(&mut [0; 1024]);
        }
    });
    Ok((endpoint, hits))
}

/// An organization admin's `s3://` location with an endpoint of its choice is 403, by create or
/// PATCH, and the host behind the endpoint hears nothing from the server.
async fn an_org_admin_s3_endpoint_reaches_no_host(server: &Server) -> anyhow::Result<()> {
    let (endpoint, hits) = listener()?;
    let admin = server.admin().await?;
    let tenant = org_admin(server, &admin, "tenant-s3").await?;
    let storage = json!({
        "location": "s3://someone-elses-bucket/warehouse",
        "s3": {"endpoint": endpoint, "allow_http": true, "path_style": true, "region": "us-east-1",
               "access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-secret"},
    });
    let answer = create_env(
        &tenant,
        "tenant-s3",
        json!({"id": "lake", "name": "lake", "storage": storage}),
    )
    .await?;
    if answer.0 == StatusCode::CREATED {
        // The hole: a table in that environment makes the server call the tenant's endpoint.
        let lake = Environment {
            org: "tenant-s3".into(),
            id: "lake".into(),
            location: String::new(),
            catalog_uri: answer.1["catalog_uri"].as_str().unwrap_or_default().into(),
            warehouse: String::new(),
        };
        let _ = create_table(&tenant, &lake).await;
        let hits = hits.load(Ordering::SeqCst);
        ensure!(
            hits == 0,
            "the server connected {hits} times to the tenant's endpoint {endpoint}"
        );
    }
    expect_error(
        "an org admin's S3 endpoint",
        answer,
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        "server administrator",
    )?;
    let own = tenant
        .create_environment_at_default("tenant-s3", "own")
        .await?;
    for update in [storage.clone(), json!({"s3": {"endpoint": endpoint}})] {
        let answer = patch_env(&tenant, "tenant-s3", "own", json!({"storage": update})).await?;
        expect_error(
            "an org admin's S3 PATCH",
            answer,
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "server administrator",
        )?;
    }
    // Tables of its own environment are written locally, never to the listener.
    create_table(&tenant, &own).await?;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    ensure!(
        hits.load(Ordering::SeqCst) == 0,
        "the server connected to the tenant's endpoint {endpoint}"
    );
    Ok(())
}

/// A server administrator may choose storage below a root, but not on or around another
/// environment's (409), not outside every root (403), and two concurrent creates at one location
/// cannot both succeed.
async fn environments_do_not_overlap(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    admin.create_organization("acme", "Acme").await?;
    let one = server.storage_location("one")?;
    admin.create_environment("acme", "one", &one).await?;
    let warehouse = directory_url(server.warehouse_dir());
    for (location, why) in [
        (one.clone(), "equal"),
        (format!("{one}/inner"), "inside"),
        (directory_url(&server.dir().join("warehouses")), "around"),
        (
            format!("{warehouse}/default"),
            "around the default environment",
        ),
    ] {
        let answer = create_env(
            &admin,
            "acme",
            json!({"id": "two", "name": "two", "storage": {"location": location}}),
        )
        .await?;
        expect_error(
            why,
            answer,
            StatusCode::CONFLICT,
            "AlreadyExistsException",
            "overlaps",
        )?;
    }
    // Outside every root: 403 naming the option.
    let answer = create_env(
        &admin,
        "acme",
        json!({"id": "two", "name": "two",
        "storage": {"location": directory_url(&server.dir().join("elsewhere"))}}),
    )
    .await?;
    expect_error(
        "outside the roots",
        answer,
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        "storage_roots",
    )?;

    let two = server.storage_location("two")?;
    admin.create_environment("acme", "two", &two).await?;
    let answer = patch_env(
        &admin,
        "acme",
        "two",
        json!({"storage": {"location": format!("{one}/x")}}),
    )
    .await?;
    expect_error(
        "moving onto another",
        answer,
        StatusCode::CONFLICT,
        "AlreadyExistsException",
        "overlaps",
    )?;
    let (status, body) = patch_env(
        &admin,
        "acme",
        "two",
        json!({"storage": {"location": server.storage_location("three")?}}),
    )
    .await?;
    ensure!(
        status == StatusCode::OK,
        "moving to a free place: {status} {body}"
    );

    // Eight creates at one new location at once: one wins, the others see it.
    let race = server.storage_location("race")?;
    let attempts = (0..8).map(|i| {
        let admin = admin.clone();
        let race = race.clone();
        async move {
            create_env(
                &admin,
                "acme",
                json!({"id": format!("race-{i}"), "name": "race", "storage": {"location": race}}),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut created = 0;
    for answer in answers {
        let (status, body) = answer?;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => return Err(anyhow!("a racing create: {other} {body}")),
        }
    }
    ensure!(
        created == 1,
        "{created} environments were created at one location"
    );
    Ok(())
}

/// A location is an absolute path or a URL, checked when set: an absolute path is kept as its
/// `file://` URL and tables work there; a relative path is 400; a location below a regular file
/// (which no one can write, root included) is 400 naming the cause, by create or PATCH, and
/// nothing is stored.
async fn storage_is_checked_when_set(server: &Server) -> anyhow::Result<()> {
    let admin = server.admin().await?;
    admin.create_organization("paths", "Paths").await?;
    let roots = server.dir().join("warehouses");

    let plain = roots.join("plain");
    let path = plain
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 temp dir"))?;
    let (status, created) = create_env(
        &admin,
        "paths",
        json!({"id": "plain", "name": "plain", "storage": {"location": path}}),
    )
    .await?;
    ensure!(
        status == StatusCode::CREATED,
        "an absolute path: {status} {created}"
    );
    ensure!(
        created["storage"]["location"] == json!(directory_url(&plain)),
        "an absolute path is kept as its file:// URL: {created}"
    );
    let env = Environment {
        org: "paths".into(),
        id: "plain".into(),
        location: directory_url(&plain),
        catalog_uri: created["catalog_uri"].as_str().unwrap_or_default().into(),
        warehouse: String::new(),
    };
    let metadata = create_table(&admin, &env).await?;
    ensure!(local_path(&metadata)?.starts_with(&plain), "{metadata}");
    ensure!(
        files_below(&plain)?
            .iter()
            .all(|f| !f.to_string_lossy().contains(".frazil-probe")),
        "the probe left its file"
    );

    let answer = create_env(
        &admin,
        "paths",
        json!({"id": "rel", "name": "rel", "storage": {"location": "warehouses/rel"}}),
    )
    .await?;
    expect_error(
        "a relative path",
        answer,
        StatusCode::BAD_REQUEST,
        "BadRequestException",
        "a relative path",
    )?;

    std::fs::create_dir_all(&roots)?;
    let file = roots.join("a-plain-file");
    std::fs::write(&file, b"not a directory")?;
    let below_file = directory_url(&file.join("env"));
    let answer = create_env(
        &admin,
        "paths",
        json!({"id": "broken", "name": "broken", "storage": {"location": below_file}}),
    )
    .await?;
    expect_error(
        "a location below a file",
        answer,
        StatusCode::BAD_REQUEST,
        "BadRequestException",
        &format!("cannot write to {below_file}: Not a directory"),
    )?;
    let (status, body) = admin
        .request(
            Method::GET,
            "/admin/v1/organizations/paths/environments/broken",
            None,
        )
        .await?;
    ensure!(
        status == StatusCode::NOT_FOUND,
        "the refused environment exists: {status} {body}"
    );

    let movable = server.storage_location("movable")?;
    admin
        .create_environment("paths", "movable", &movable)
        .await?;
    let answer = patch_env(
        &admin,
        "paths",
        "movable",
        json!({"storage": {"location": below_file}}),
    )
    .await?;
    expect_error(
        "moving below a file",
        answer,
        StatusCode::BAD_REQUEST,
        "BadRequestException",
        "cannot write to",
    )?;
    let (status, kept) = admin
        .request(
            Method::GET,
            "/admin/v1/organizations/paths/environments/movable",
            None,
        )
        .await?;
    ensure!(
        status == StatusCode::OK && kept["storage"]["location"] == json!(movable),
        "a refused PATCH changed the environment: {status} {kept}"
    );
    ensure!(
        std::fs::read(&file)? == b"not a directory",
        "the file changed"
    );
    Ok(())
}

/// No environment may hold the server's data directory or its database (409), even below a
/// root that contains them.
async fn the_data_directory_is_not_storage(store: Store) -> anyhow::Result<()> {
    let server = Server::start_with_roots(store, |warehouse, dir| {
        vec![warehouse.to_string(), directory_url(dir)]
    })
    .await;
    let outcome = async {
        let admin = server.admin().await?;
        let data = server.dir().join("data");
        let mut clashes = vec![directory_url(&data), directory_url(server.dir())];
        if store == Store::Sqlite {
            clashes.push(directory_url(&data.join("frazil.db")));
        }
        for location in clashes {
            let answer = create_env(
                &admin,
                ORG,
                json!({"id": "db", "name": "db", "storage": {"location": location}}),
            )
            .await?;
            expect_error(
                &location,
                answer,
                StatusCode::CONFLICT,
                "AlreadyExistsException",
                "server's own files",
            )?;
        }
        admin
            .create_environment(ORG, "fine", &directory_url(&server.dir().join("fine")))
            .await?;
        Ok(())
    }
    .await;
    report(&server, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_not_storage_sqlite() -> anyhow::Result<()> {
    the_data_directory_is_not_storage(Store::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_not_storage_postgres() -> anyhow::Result<()> {
    the_data_directory_is_not_storage(Store::Postgres).await
}
