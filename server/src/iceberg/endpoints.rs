//! The route table of the catalog API: one line per route says its method, its path below the
//! catalog prefix, the access it needs, whether it declares `Idempotency-Key`, and its handler.
//!
//! Everything else reads this table instead of restating it: registration (one actix resource
//! per path, under both URI layouts), the `Caller` extractor's authorization (the route tags the
//! request with its [`Endpoint`]), the idempotency middleware (wrapped around exactly the routes
//! that declare the key), `/v1/config` `endpoints`, and the OpenAPI document (the handlers'
//! operations, listed by [`Operations`]). Adding a route is adding a line here.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::web;
use actix_web::{HttpMessage, HttpRequest, Route};
use frazil_catalog::Access;

use crate::idempotency;

/// Declares [`Endpoint`], its facts, and [`Operations`], from one line per route:
/// `Variant: METHOD "/path", Access [+ idempotent] => module::handler;`.
macro_rules! endpoints {
    (@declares_key) => { false };
    (@declares_key idempotent) => { true };
    ($(
        $variant:ident: $method:ident $path:literal, $access:ident $(+ $key:ident)?
            => $module:ident::$handler:ident;
    )+) => {
        /// A route of the catalog API; variants are named after the spec's operation ids.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint {
            $($variant),+
        }

        impl Endpoint {
            /// Every route, in the table's order.
            pub const ALL: &[Endpoint] = &[$(Endpoint::$variant),+];

            pub fn method(self) -> Method {
                match self {
                    $(Endpoint::$variant => Method::$method),+
                }
            }

            /// The path below the catalog prefix (`/v1/{prefix}` in the spec).
            pub fn path(self) -> &'static str {
                match self {
                    $(Endpoint::$variant => $path),+
                }
            }

            /// `"METHOD /v1/{prefix}/path"`: how the spec and `/v1/config` name the route.
            pub fn spec(self) -> &'static str {
                match self {
                    $(Endpoint::$variant => concat!(stringify!($method), " /v1/{prefix}", $path)),+
                }
            }

            pub fn access(self) -> Access {
                match self {
                    $(Endpoint::$variant => Access::$access),+
                }
            }

            /// Whether the spec declares `Idempotency-Key` on this operation.
            pub fn declares_key(self) -> bool {
                match self {
                    $(Endpoint::$variant => endpoints!(@declares_key $($key)?)),+
                }
            }

            /// The route with its handler, before the table's middleware.
            fn handler(self) -> Route {
                match self {
                    $(Endpoint::$variant => web::method(Method::$method).to(super::$module::$handler)),+
                }
            }
        }

        /// The handlers' OpenAPI operations (their `#[utoipa::path]` attributes), in table order;
        /// `crate::api_docs` merges them into the Iceberg document.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($(super::$module::$handler),+))]
        pub struct Operations;
    };
}

endpoints! {
    ListNamespaces: GET "/namespaces", Read => namespaces::list;
    CreateNamespace: POST "/namespaces", Write + idempotent => namespaces::create;
    LoadNamespaceMetadata: GET "/namespaces/{namespace}", Read => namespaces::load;
    NamespaceExists: HEAD "/namespaces/{namespace}", Read => namespaces::exists;
    DropNamespace: DELETE "/namespaces/{namespace}", Write + idempotent => namespaces::drop;
    UpdateProperties: POST "/namespaces/{namespace}/properties", Write + idempotent
        => namespaces::update_properties;
    ListTables: GET "/namespaces/{namespace}/tables", Read => tables::list;
    CreateTable: POST "/namespaces/{namespace}/tables", Write + idempotent => tables::create;
    LoadTable: GET "/namespaces/{namespace}/tables/{table}", Read => tables::load;
    TableExists: HEAD "/namespaces/{namespace}/tables/{table}", Read => tables::exists;
    UpdateTable: POST "/namespaces/{namespace}/tables/{table}", Write + idempotent
        => tables::commit;
    DropTable: DELETE "/namespaces/{namespace}/tables/{table}", Write + idempotent
        => tables::drop;
    RegisterTable: POST "/namespaces/{namespace}/register", Write + idempotent
        => tables::register;
    // A reader reports the metrics of its scans: reading access is enough.
    ReportMetrics: POST "/namespaces/{namespace}/tables/{table}/metrics", Read
        => tables::report_metrics;
    UnregisterTable: POST "/namespaces/{namespace}/tables/{table}/unregister", Write + idempotent
        => tables::unregister;
    LoadCredentials: GET "/namespaces/{namespace}/tables/{table}/credentials", Read
        => tables::credentials;
    // A reader signs its reads; the handler refuses to sign a reader's writes.
    SignRequest: POST "/namespaces/{namespace}/tables/{table}/sign", Read
        => remote_signing::sign;
    RenameTable: POST "/tables/rename", Write + idempotent => tables::rename;
    CommitTransaction: POST "/transactions/commit", Write + idempotent
        => tables::commit_transaction;
    ListViews: GET "/namespaces/{namespace}/views", Read => views::list;
    // The spec leaves Idempotency-Key off createView.
    CreateView: POST "/namespaces/{namespace}/views", Write => views::create;
    LoadView: GET "/namespaces/{namespace}/views/{view}", Read => views::load;
    ViewExists: HEAD "/namespaces/{namespace}/views/{view}", Read => views::exists;
    ReplaceView: POST "/namespaces/{namespace}/views/{view}", Write + idempotent
        => views::replace;
    DropView: DELETE "/namespaces/{namespace}/views/{view}", Write + idempotent => views::drop;
    RenameView: POST "/views/rename", Write + idempotent => views::rename;
    RegisterView: POST "/namespaces/{namespace}/register-view", Write + idempotent
        => views::register;
}

impl Endpoint {
    /// The route as registered: the handler, behind the idempotency middleware if the route
    /// declares the key, behind a tag that puts this endpoint into the request's extensions
    /// (where [`Endpoint::of`] finds it) before anything else runs.
    pub fn route(self) -> Route {
        let mut route = self.handler();
        if self.declares_key() {
            route = route.wrap(from_fn(idempotency::middleware));
        }
        // Outside the idempotency middleware: recorded answers hold no credentials, and replays
        // get fresh ones.
        if self.vends_credentials() {
            route = route.wrap(from_fn(super::delegation::middleware));
        }
        route.wrap(from_fn(
            move |req: ServiceRequest, next: Next<BoxBody>| async move {
                req.extensions_mut().insert(self);
                next.call(req).await
            },
        ))
    }

    /// The routes whose `LoadTableResult` carries vended credentials when the request's
    /// `X-Iceberg-Access-Delegation` asks for them (loadCredentials vends by itself).
    pub fn vends_credentials(self) -> bool {
        matches!(
            self,
            Endpoint::LoadTable | Endpoint::CreateTable | Endpoint::RegisterTable
        )
    }

    /// The endpoint a request was routed to; none outside the catalog routes.
    pub fn of(request: &HttpRequest) -> Option<Endpoint> {
        request.extensions().get::<Endpoint>().copied()
    }

    /// What the route does, in words a refusal can use ("create a namespace"): the operation's
    /// summary in the OpenAPI document, lower-cased.
    pub fn action(self) -> &'static str {
        static ACTIONS: LazyLock<HashMap<Endpoint, String>> = LazyLock::new(|| {
            let doc = <Operations as utoipa::OpenApi>::openapi();
            Endpoint::ALL
                .iter()
                .map(|&endpoint| (endpoint, summary_of(&doc, endpoint)))
                .collect()
        });
        ACTIONS.get(&self).map_or("", String::as_str)
    }
}

/// The summary of `endpoint`'s operation in `doc`, with its first letter lower-cased.
fn summary_of(doc: &utoipa::openapi::OpenApi, endpoint: Endpoint) -> String {
    let path = format!("{}{}", crate::api_docs::ICEBERG_V1, endpoint.path());
    let operation = doc
        .paths
        .paths
        .get(&path)
        .and_then(|item| match endpoint.method() {
            Method::GET => item.get.as_ref(),
            Method::HEAD => item.head.as_ref(),
            Method::POST => item.post.as_ref(),
            Method::DELETE => item.delete.as_ref(),
            _ => None,
        });
    let summary = operation
        .and_then(|o| o.summary.clone())
        .unwrap_or_else(|| endpoint.spec().to_string());
    let mut chars = summary.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_write_access_and_only_reads_metrics_and_signing_do_not() {
        for &endpoint in Endpoint::ALL {
            let reading = matches!(endpoint.method(), Method::GET | Method::HEAD)
                || endpoint == Endpoint::ReportMetrics
                || endpoint == Endpoint::SignRequest;
            assert_eq!(
                endpoint.access() == Access::Read,
                reading,
                "{}",
                endpoint.spec()
            );
        }
    }

    #[test]
    fn every_route_has_an_action_for_its_refusals() {
        assert_eq!(Endpoint::CreateNamespace.action(), "create a namespace");
        assert_eq!(Endpoint::UpdateTable.action(), "commit updates to a table");
        for &endpoint in Endpoint::ALL {
            assert!(!endpoint.action().is_empty(), "{}", endpoint.spec());
        }
    }
}
