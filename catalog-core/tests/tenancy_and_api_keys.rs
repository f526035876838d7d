//! Organizations, environments, clusters and API keys on both metadata stores.

mod common;

use common::{org_admin, server_admin, Harness};
use frazil_catalog::{CatalogError, NewApiKey, NewEnvironment, Role};
use frazil_storage::StorageConfig;

/// `{root}/{name}`: storage a server administrator may choose.
fn local(h: &Harness, name: &str) -> StorageConfig {
    let dir = h.path_of(&h.root.location).join(name);
    StorageConfig {
        location: url::Url::from_directory_path(dir)
            .expect("an absolute path")
            .to_string(),
        s3: None,
        provider_integration: None,
    }
}

#[tokio::test]
async fn only_server_admins_choose_storage_and_it_never_overlaps() {
    for h in Harness::both().await {
        let c = &h.catalog;
        c.create_organization(Some("initech".into()), "Initech".into())
            .await
            .unwrap();
        let tenant = org_admin("initech");
        for storage in [h.env.storage.clone(), local(&h, "mine")] {
            let chosen = c
                .create_environment(
                    &tenant,
                    "initech",
                    Some("x".into()),
                    "x".into(),
                    Some(storage),
                )
                .await;
            assert!(
                matches!(chosen, Err(CatalogError::Forbidden(_))),
                "{chosen:?}"
            );
        }
        let own = c
            .create_environment(&tenant, "initech", Some("x".into()), "x".into(), None)
            .await
            .unwrap();
        let moved = c
            .update_environment(&tenant, "initech", "x", None, Some(local(&h, "mine")))
            .await;
        assert!(
            matches!(moved, Err(CatalogError::Forbidden(_))),
            "{moved:?}"
        );
        let admin = server_admin();
        for clash in [own.storage.clone(), h.env.storage.clone(), h.root.clone()] {
            let overlap = c
                .create_environment(&admin, "initech", Some("y".into()), "y".into(), Some(clash))
                .await;
            assert!(
                matches!(overlap, Err(CatalogError::Conflict(_))),
                "{overlap:?}"
            );
        }
        let outside = StorageConfig {
            location: "file:///tmp/frazil-outside".into(),
            s3: None,
            provider_integration: None,
        };
        let refused = c
            .create_environment(
                &admin,
                "initech",
                Some("y".into()),
                "y".into(),
                Some(outside),
            )
            .await;
        assert!(
            matches!(&refused, Err(CatalogError::Forbidden(m)) if m.contains("storage_roots")),
            "{refused:?}"
        );
        h.close().await;
    }
}

/// An install from before `storage_roots` kept its default environment at the root itself; it
/// moves to `{root}/{org}/{env}` on start while it holds no namespace, and stays otherwise.
#[tokio::test]
async fn an_empty_environment_at_the_root_moves_below_it() {
    for h in Harness::both().await {
        use frazil_catalog::store::MetadataStore;
        let at_root = |id: &str| NewEnvironment {
            org_id: "acme".into(),
            id: id.into(),
            name: id.into(),
            storage: h.root.clone(),
        };
        h.store
            .create_environment(&at_root("old"), &|_| Ok(()))
            .await
            .unwrap();
        let moved = h
            .catalog
            .ensure_environment("acme", "old", h.root.clone())
            .await
            .unwrap();
        assert_eq!(
            h.path_of(&moved.storage.location),
            h.path_of(&h.root.location).join("acme").join("old")
        );
        let stored = h.catalog.admin_environment("acme", "old").await.unwrap();
        assert_eq!(stored.storage.location, moved.storage.location);
        h.close().await;
    }
}

#[tokio::test]
async fn organizations_environments_and_clusters() {
    for h in Harness::both().await {
        let c = &h.catalog;
        let org = c
            .create_organization(Some("globex".into()), "Globex".into())
            .await
            .unwrap();
        assert_eq!(org.name, "Globex");
        let again = c
            .create_organization(Some("globex".into()), "x".into())
            .await;
        assert!(
            matches!(again, Err(CatalogError::Conflict(_))),
            "{}",
            h.store_name
        );
        let bad = c
            .create_organization(Some("../evil".into()), "x".into())
            .await;
        assert!(matches!(bad, Err(CatalogError::BadRequest(_))));

        let env = c
            .create_environment(
                &server_admin(),
                "globex",
                Some("dev".into()),
                "Dev".into(),
                Some(local(&h, "globex-dev")),
            )
            .await
            .unwrap();
        let generated = c
            .create_environment(&server_admin(), "globex", None, "Other".into(), None)
            .await
            .unwrap();
        assert!(generated.id.starts_with("env-"), "{}", generated.id);
        assert_eq!(
            h.path_of(&generated.storage.location),
            h.path_of(&h.root.location)
                .join("globex")
                .join(&generated.id),
            "an environment without storage lives at {{root}}/{{org}}/{{env}}"
        );
        let nowhere = c
            .create_environment(&server_admin(), "nope", None, "x".into(), None)
            .await;
        assert!(matches!(nowhere, Err(CatalogError::NoSuchResource(_))));
        let ids: Vec<String> = c
            .environments("globex")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids.len(), 2);

        let cluster = c
            .register_cluster(&env, "lkc-9", Some("payments".into()))
            .await
            .unwrap();
        assert_eq!(cluster.name, "payments");
        assert_eq!(c.clusters(&env).await.unwrap(), vec![cluster]);
        let twice = c.register_cluster(&env, "lkc-9", None).await;
        assert!(matches!(twice, Err(CatalogError::Conflict(_))));

        let busy = c.delete_environment("globex", "dev").await;
        assert!(
            matches!(busy, Err(CatalogError::Conflict(_))),
            "{}: an environment with clusters stays",
            h.store_name
        );
        let org_busy = c.delete_organization("globex").await;
        assert!(matches!(org_busy, Err(CatalogError::Conflict(_))));
        let moved = c
            .update_environment(
                &server_admin(),
                "globex",
                "dev",
                None,
                Some(local(&h, "elsewhere")),
            )
            .await;
        assert!(
            matches!(moved, Err(CatalogError::Conflict(_))),
            "storage cannot move under tables"
        );
        let renamed = c
            .update_environment(
                &org_admin("globex"),
                "globex",
                "dev",
                Some("Development".into()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(renamed.name, "Development");

        c.delete_cluster(&env, "lkc-9").await.unwrap();
        c.delete_environment("globex", "dev").await.unwrap();
        c.delete_environment("globex", &generated.id).await.unwrap();
        c.delete_organization("globex").await.unwrap();
        assert!(matches!(
            c.organization("globex").await,
            Err(CatalogError::NoSuchResource(_))
        ));
        h.close().await;
    }
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked_and_store_no_secret() {
    for h in Harness::both().await {
        let c = &h.catalog;
        let new = NewApiKey {
            org_id: Some("acme".into()),
            env_id: Some("prod".into()),
            role: Some(Role::Writer),
            description: "materializer".into(),
            ..NewApiKey::default()
        };
        let issued = c.create_api_key(new).await.unwrap();
        assert!(issued.secret.len() >= 32);
        let key = c
            .authenticate_api_key(&issued.key.id, &issued.secret)
            .await
            .unwrap();
        assert_eq!(key.principal().role, Role::Writer);
        assert!(key.principal().covers("acme", Some("prod")));
        let wrong = c
            .authenticate_api_key(&issued.key.id, "not-the-secret-at-all")
            .await;
        assert!(
            matches!(wrong, Err(CatalogError::Unauthorized(_))),
            "{}",
            h.store_name
        );
        let unknown = c.authenticate_api_key("FRZNOPE", &issued.secret).await;
        assert!(matches!(unknown, Err(CatalogError::Unauthorized(_))));

        let listed = c.api_keys(Some("acme"), Some("prod")).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(
            listed[0].last_used_at_ms.is_some(),
            "authentication records the last use"
        );
        assert!(
            !format!("{listed:?}").contains(&issued.secret),
            "listings never carry the secret"
        );

        let org_reader = NewApiKey {
            org_id: Some("acme".into()),
            role: Some(Role::Reader),
            ..NewApiKey::default()
        };
        assert!(matches!(
            c.create_api_key(org_reader).await,
            Err(CatalogError::BadRequest(_))
        ));

        let other_scope = c.revoke_api_key(Some("acme"), None, &issued.key.id).await;
        assert!(
            matches!(other_scope, Err(CatalogError::NoSuchResource(_))),
            "revocation is scoped"
        );
        c.revoke_api_key(Some("acme"), Some("prod"), &issued.key.id)
            .await
            .unwrap();
        let revoked = c.authenticate_api_key(&issued.key.id, &issued.secret).await;
        assert!(matches!(revoked, Err(CatalogError::Unauthorized(_))));
        h.close().await;
    }
}

#[tokio::test]
async fn bootstrap_creates_one_server_administrator() {
    for h in Harness::both().await {
        let c = &h.catalog;
        let first = c
            .bootstrap_server_admin(
                Some("root-admin".into()),
                Some("a-long-bootstrap-secret".into()),
            )
            .await
            .unwrap()
            .expect("the first start creates the administrator");
        assert!(first.key.principal().is_server_admin());
        c.authenticate_api_key("root-admin", "a-long-bootstrap-secret")
            .await
            .unwrap();
        assert!(
            c.bootstrap_server_admin(None, None)
                .await
                .unwrap()
                .is_none(),
            "{}",
            h.store_name
        );
        h.close().await;
    }
}
