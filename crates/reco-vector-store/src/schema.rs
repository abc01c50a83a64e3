//! Names shared by the readers, the loader (`reco-vector-loader`) and `sql/embeddings.sql`;
//! the DDL only loads run is the loader's.
//!
//! Readers query the views `item_emb` and `user_emb`. Each load writes versioned tables
//! `item_emb_<embedding version>` / `user_emb_<embedding version>` and, in the transaction that
//! created them, re-points the views and marks the version active in
//! `reco_embedding_versions`; so a reader sees either the old version or the new one, whole.

/// Column of the versioned item tables (`boolean NOT NULL DEFAULT false`): the product had no
/// interaction in training and was embedded from its catalogue features alone (cold start).
/// Versions loaded from files without the flag hold false; the views leave it out.
pub const COLD_COLUMN: &str = "cold";

/// View readers query for item embeddings (`id varchar`, `embedding vector(D)`).
pub const ITEM_VIEW: &str = "item_emb";
/// View readers query for user embeddings (`id int`, `embedding vector(D)`).
pub const USER_VIEW: &str = "user_emb";
/// Metadata table: one row per loaded version, exactly one of them active.
pub const VERSIONS_TABLE: &str = "reco_embedding_versions";

/// Whether `name` is an embedding version as loads generate it (`e` + UTC time to the
/// microsecond, `e20261122031500123456`), and thus safe to splice into table names.
pub fn is_embedding_version(name: &str) -> bool {
    name.len() == 21 && name.starts_with('e') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Table of item embeddings of one version.
pub fn item_table(embedding_version: &str) -> String {
    format!("{ITEM_VIEW}_{embedding_version}")
}

/// Table of user embeddings of one version.
pub fn user_table(embedding_version: &str) -> String {
    format!("{USER_VIEW}_{embedding_version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_are_checked_before_use_in_table_names() {
        assert!(is_embedding_version("e20261122031500123456"));
        assert!(!is_embedding_version("e2026112203150012345"));
        assert!(!is_embedding_version("e2026112203150012345x"));
        assert!(!is_embedding_version("x; DROP TABLE item_emb"));
        assert_eq!(
            item_table("e20261122031500123456"),
            "item_emb_e20261122031500123456"
        );
    }
}
