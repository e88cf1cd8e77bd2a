//! `docs/schema.graphql` is the schema the code serves: this test fails
//! when they drift. After changing the schema on purpose, regenerate it with
//! `UPDATE_SCHEMA=1 cargo test --workspace --test schema` and commit it.

#![allow(clippy::unwrap_used)]

#[test]
fn docs_schema_graphql_is_the_served_schema() {
    let sdl = query_api::schema::sdl();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == sdl,
        "docs/schema.graphql differs from the schema the code serves; if the change is \
         intended, run `UPDATE_SCHEMA=1 cargo test --workspace --test schema` and commit the file"
    );
}
