//! The in-memory transport passes the transport conformance suite (the libp2p adapter
//! runs the same suite in its own crate).

use parsec_sim::mem_transport::MemHarness;
use parsec_sim::transport_suite;

#[test]
fn the_memory_transport_passes_the_transport_suite() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let report = runtime.block_on(transport_suite::run(&mut MemHarness::new()))?;
    println!("{report:?}");
    assert_eq!(report.skipped, ["timeouts"], "it has no request timeouts");
    assert_eq!(report.passed.len(), 8, "{report:?}");
    Ok(())
}
