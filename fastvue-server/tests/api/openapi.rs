//! `/openapi.json` is a valid OpenAPI 3 document; `/docs` serves Swagger UI offline.
use std::collections::BTreeSet;

use salvo::routing::FilterInfo;

use crate::helpers::spawn_app;

/// Paths that need no bearer token.
const PUBLIC_PATHS: &[&str] = &[
    "/health",
    "/health/live",
    "/metrics",
    "/openapi.json",
    "/docs/",
    "/api/v1/auth/login",
    "/api/v1/auth/login/2fa",
    "/api/v1/auth/login/2fa/setup",
    "/api/v1/auth/login/2fa/confirm",
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/reset",
    "/api/v1/auth/email/verify",
    "/api/v1/auth/invitations/lookup",
    "/api/v1/auth/invitations/accept",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/oauth/providers",
    "/api/v1/auth/oauth/{provider}/authorize",
    "/api/v1/auth/oauth/{provider}/callback",
];

async fn document(app: &crate::helpers::TestApp) -> serde_json::Value {
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().await.unwrap()
}

#[tokio::test]
async fn openapi_json_is_a_valid_openapi_3_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    // utoipa emits OpenAPI 3.1, which `oas3` parses (the `openapiv3` crate reads 3.0 only).
    let spec = oas3::from_json(doc.to_string()).expect("an OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3."), "{}", spec.openapi);
    spec.validate_version()
        .expect("a supported OpenAPI version");
    assert_eq!(spec.info.title, "fastvue-rs");
    assert_eq!(spec.info.version, env!("CARGO_PKG_VERSION"));
    let paths = spec.paths.as_ref().expect("paths");
    for path in ["/health", "/health/live", "/metrics", "/openapi.json"] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    let components = spec.components.as_ref().expect("components");
    let bearer = components.security_schemes["bearer"]
        .resolve(&spec)
        .expect("the bearer scheme");
    let bearer = serde_json::to_value(bearer).unwrap();
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
}

/// Every `$ref` string in the document.
fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_reference_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    let dangling: Vec<&str> = found
        .into_iter()
        .filter(|r| doc.pointer(r.trim_start_matches('#')).is_none())
        .collect();
    assert!(
        dangling.is_empty(),
        "unresolved $ref (list the schema in the module's `components(schemas(...))`): {dangling:?}"
    );
}

#[tokio::test]
async fn every_path_but_the_public_ones_requires_the_bearer_token() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut unprotected = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()))
                || doc["security"]
                    .as_array()
                    .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
            if !secured && !PUBLIC_PATHS.contains(&path.as_str()) {
                unprotected.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        unprotected.is_empty(),
        "operations without `security((\"bearer\" = []))`: {unprotected:?}"
    );
}

#[tokio::test]
async fn every_operation_documents_a_response() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_has_an_operation_id_no_other_operation_has() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("{id} names both {other} and {method} {path}");
            }
        }
    }
    assert_eq!(seen["roles_list"], "get /api/v1/roles");
}

#[tokio::test]
async fn docs_serves_swagger_ui_and_its_assets_offline() {
    let app = spawn_app().await;
    // `/docs` redirects to `/docs/` (reqwest follows it).
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.url().path(), "/docs/");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("./") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert!(assets.len() >= 3, "assets referenced: {assets:?}");
    for asset in assets {
        let res = app.get(&format!("/docs/{}", &asset[2..])).await;
        assert_eq!(res.status(), 200, "{asset}");
        let body = res.text().await.unwrap();
        assert!(!body.is_empty(), "{asset}");
    }
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn an_unknown_docs_file_answers_404_json() {
    let app = spawn_app().await;
    let res = app.get("/docs/no-such-file.js").await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// Every `(method, path)` the router mounts, paths in OpenAPI's spelling (`{id}`).
fn mounted_routes(router: &salvo::Router) -> BTreeSet<(String, String)> {
    fn walk(router: &salvo::Router, prefix: &str, out: &mut BTreeSet<(String, String)>) {
        let mut path = prefix.to_owned();
        let mut methods = Vec::new();
        for filter in router.filters() {
            match filter.info() {
                FilterInfo::Path(p) => {
                    for segment in p.split('/').filter(|s| !s.is_empty()) {
                        // `{id:num}` and the like are `{id}` in the document.
                        let segment = match segment.split_once(':') {
                            Some((name, _)) if segment.starts_with('{') => format!("{name}}}"),
                            _ => segment.to_owned(),
                        };
                        path.push('/');
                        path.push_str(&segment);
                    }
                }
                FilterInfo::Method(m) => methods.push(m.as_str().to_ascii_lowercase()),
                _ => {}
            }
        }
        if router.goal.is_some() {
            for m in &methods {
                out.insert((
                    m.clone(),
                    if path.is_empty() {
                        "/".into()
                    } else {
                        path.clone()
                    },
                ));
            }
        }
        for child in router.routers() {
            walk(child, &path, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(router, "", &mut out);
    out
}

#[tokio::test]
async fn every_mounted_route_is_documented_and_every_documented_one_is_mounted() {
    let app = spawn_app().await;
    let service = fastvue_server::startup::service(app.fastvue.clone());
    let mounted = mounted_routes(&service.router);
    // Swagger UI is documented by its page; the router serves its files too.
    let mounted: BTreeSet<_> = mounted
        .into_iter()
        .map(|(m, p)| {
            (
                m,
                if p == "/docs/{**rest}" {
                    "/docs/".into()
                } else {
                    p
                },
            )
        })
        .collect();
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    ["get", "post", "put", "patch", "delete", "head", "options"]
                        .contains(&k.as_str())
                })
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(mounted.len() > 60, "the walk found only {mounted:?}");
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in /openapi.json: {undocumented:?}"
    );
    assert!(
        unmounted.is_empty(),
        "in /openapi.json but not mounted: {unmounted:?}"
    );
}
