//! Where to start: `GET /` and `GET /api-docs/` answer with links (JSON, readable with curl)
//! instead of a bare 404, since the start-up banner and people typing the server's address
//! land there first.

use actix_web::web::{self, ServiceConfig};
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::resource;

/// `/`, `/api-docs` and `/api-docs/`, all public.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/").route(web::get().to(|| async { HttpResponse::Ok().json(root()) })));
    for path in ["/api-docs", "/api-docs/"] {
        cfg.service(
            resource(path)
                .route(web::get().to(|| async { HttpResponse::Ok().json(api_docs_index()) })),
        );
    }
}

fn root() -> Value {
    json!({
        "service": "Frazil, an Apache Iceberg REST catalog",
        "links": {
            "docs": "/docs/",
            "api_docs": "/api-docs/",
            "catalog": "/iceberg/catalog",
            "admin": "/admin/v1",
            "health": "/healthz",
            "ready": "/readyz",
        },
    })
}

/// The OpenAPI documents `/api-docs/{name}` serves, and Swagger UI that shows them.
fn api_docs_index() -> Value {
    let documents: Vec<Value> = crate::api_docs::files()
        .iter()
        .map(|(name, _)| {
            let api = if name.starts_with("admin") {
                "admin API"
            } else {
                "Iceberg REST catalog"
            };
            let format = name.rsplit('.').next().unwrap_or_default();
            json!({"name": name, "url": format!("/api-docs/{name}"), "api": api, "format": format})
        })
        .collect();
    json!({"documents": documents, "docs": "/docs/"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_lists_every_document_and_swagger_ui() {
        let index = api_docs_index();
        let urls: Vec<&str> = index["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["url"].as_str().unwrap())
            .collect();
        for (name, _) in crate::api_docs::files() {
            assert!(
                urls.contains(&format!("/api-docs/{name}").as_str()),
                "{urls:?}"
            );
        }
        assert_eq!(index["docs"], "/docs/");
        assert_eq!(root()["links"]["docs"], "/docs/");
    }
}
