//! The words of a "does not exist" answer. PyIceberg splits a dotted string at every dot, so
//! `load_table("lkc-abc123.orders.v1")` looks up table `v1` in namespace `lkc-abc123`.`orders`;
//! an answer that only repeats the dotted name reads as if an existing table were missing. When
//! the dotted name hides how it was split, the answer spells out the namespace and the name
//! that were looked up and suggests the tuple form.
//!
//! Each message keeps the prefix the Java client and the REST compatibility kit check
//! (`Table does not exist: ns.tbl`, see iceberg-rest-spec-notes.md 3.5), and a plain name
//! (one level, no dots) gets exactly that text and nothing more.

use crate::model::{NamespaceIdent, TableIdent};

/// `Table does not exist: ...` or `View does not exist: ...` (`kind` is "Table" or "View").
pub fn object(kind: &str, ident: &TableIdent) -> String {
    let levels = ident.namespace.levels();
    let mut message = format!("{kind} does not exist: {ident}");
    if !is_plain(levels) || ident.name.contains('.') {
        let name = &ident.name;
        let namespace = &ident.namespace;
        message.push_str(&format!(
            " (namespace {namespace}, {} {name})",
            kind.to_lowercase()
        ));
    }
    if let [first, rest @ ..] = levels {
        if !rest.is_empty() {
            let joined = [&rest.join("."), ident.name.as_str()].join(".");
            message.push_str(&format!(
                "; if the {} name contains dots, use the tuple form ({first:?}, {joined:?})",
                kind.to_lowercase()
            ));
        }
    }
    message
}

/// `Namespace does not exist: ...`, with its levels when the dotted name hides them.
pub fn namespace(namespace: &NamespaceIdent) -> String {
    let levels = namespace.levels();
    let mut message = format!("Namespace does not exist: {namespace}");
    if !is_plain(levels) {
        let quoted: Vec<String> = levels.iter().map(|l| format!("{l:?}")).collect();
        message.push_str(&format!(" (levels {})", quoted.join(", ")));
        if levels.len() > 1 {
            message.push_str(&format!(
                "; if the namespace name contains dots, use the tuple form ({:?},)",
                levels.join(".")
            ));
        }
    }
    message
}

/// One level without a dot: the dotted name says exactly what was looked up.
fn is_plain(levels: &[String]) -> bool {
    levels.len() == 1 && !levels[0].contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(levels: &[&str], name: &str) -> TableIdent {
        let namespace = NamespaceIdent::new(levels.iter().map(|l| l.to_string()).collect());
        TableIdent::new(namespace.unwrap(), name).unwrap()
    }

    #[test]
    fn plain_names_keep_the_java_wording() {
        assert_eq!(
            object("Table", &table(&["ns"], "tbl")),
            "Table does not exist: ns.tbl"
        );
        let ns = NamespaceIdent::new(vec!["non-existing".into()]).unwrap();
        assert_eq!(namespace(&ns), "Namespace does not exist: non-existing");
    }

    #[test]
    fn a_split_topic_name_is_spelled_out_with_the_tuple_form() {
        assert_eq!(
            object("Table", &table(&["lkc-abc123", "orders"], "v1")),
            "Table does not exist: lkc-abc123.orders.v1 (namespace lkc-abc123.orders, table v1); \
             if the table name contains dots, use the tuple form (\"lkc-abc123\", \"orders.v1\")"
        );
        let view = object("View", &table(&["lkc-1"], "orders.v1"));
        assert_eq!(
            view,
            "View does not exist: lkc-1.orders.v1 (namespace lkc-1, view orders.v1)"
        );
        let ns = NamespaceIdent::new(vec!["lkc-abc123".into(), "orders".into()]).unwrap();
        assert_eq!(
            namespace(&ns),
            "Namespace does not exist: lkc-abc123.orders (levels \"lkc-abc123\", \"orders\"); \
             if the namespace name contains dots, use the tuple form (\"lkc-abc123.orders\",)"
        );
    }
}
