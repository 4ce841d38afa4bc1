//! Topology pictures: `describe()` as Mermaid and Graphviz DOT, compared with golden files in
//! `tests/golden/` (`UPDATE_GOLDEN=1 cargo test -p streams-dsl --test pictures` rewrites them
//! after a deliberate change), and each DOT file drawn by Graphviz's `dot` to check it parses.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::{StreamsError, TimeWindowedSerde, Topology};
use streams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TimeWindows};

/// Words counted after a key change (a repartition topic between two sub-topologies), and
/// counted again per 10 s window.
fn word_count() -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    let words = b
        .stream_with(&["lines"], Consumed::with(StringSerde, StringSerde))
        .flat_map_values(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .group_by_with(|_, w| w.clone(), Grouped::with(StringSerde, StringSerde));
    words
        .count_with(Materialized::as_store("word-counts"))
        .to_stream()
        .to_with("counts", Produced::with(StringSerde, Nullable(I64Serde)));
    words
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count_with(Materialized::as_store("windowed-word-counts"))
        .to_stream()
        .to_with(
            "windowed-counts",
            Produced::with(
                TimeWindowedSerde::new(StringSerde, 10_000),
                Nullable(I64Serde),
            ),
        );
    b.build()
}

/// Orders enriched from a customers table and a global products table.
fn enrichment() -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    let customers = b.table_with(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("customers"),
    );
    let products = b.global_table_with("products", Consumed::with(StringSerde, StringSerde));
    b.stream_with(&["orders"], Consumed::with(StringSerde, StringSerde))
        .join_table(&customers, |order, customer| {
            format!("{order} for {customer}")
        })
        .left_join_global(
            &products,
            |_, order| order.split(' ').next().unwrap_or_default().to_owned(),
            |order, product| format!("{order}: {}", product.map_or("?", String::as_str)),
        )
        .to_with("enriched", Produced::with(StringSerde, StringSerde));
    b.build()
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`, or rewrites it under `UPDATE_GOLDEN=1`.
fn check(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("writing the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from its golden file; if the change is meant, run with UPDATE_GOLDEN=1"
    );
}

/// Graphviz draws `dot` (to SVG, thrown away); an error means the DOT does not parse.
fn graphviz_draws(dot: &str) {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        panic!("Graphviz's `dot` is not installed (scripts/setup.sh installs it)");
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot.as_bytes())
        .expect("writing to dot");
    let out = child.wait_with_output().expect("waiting for dot");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot refused the graph: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_repartitioned_word_count_as_mermaid_and_dot() -> Result<(), StreamsError> {
    let description = word_count()?.describe();
    check("word-count.mmd", &description.to_mermaid());
    let dot = description.to_dot();
    check("word-count.dot", &dot);
    graphviz_draws(&dot);
    Ok(())
}

#[test]
fn an_enrichment_with_a_table_and_a_global_table_as_mermaid_and_dot() -> Result<(), StreamsError> {
    let description = enrichment()?.describe();
    assert_eq!(description.global_stores.len(), 1);
    // Names as Kafka Streams 4.1.1 gives them for this topology (its describe() printed
    // KSTREAM-SOURCE-0000000005 for orders: the global table took 2, 3 and 4).
    assert_eq!(
        description.global_stores[0].store,
        "products-STATE-STORE-0000000002"
    );
    assert_eq!(
        description.subtopologies[0]
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        [
            "KSTREAM-SOURCE-0000000005",
            "KSTREAM-JOIN-0000000006",
            "KSTREAM-LEFTJOIN-0000000007",
            "KSTREAM-SOURCE-0000000000",
            "KSTREAM-SINK-0000000008",
            "KTABLE-SOURCE-0000000001",
        ]
    );
    check("enrichment.mmd", &description.to_mermaid());
    let dot = description.to_dot();
    check("enrichment.dot", &dot);
    graphviz_draws(&dot);
    Ok(())
}
