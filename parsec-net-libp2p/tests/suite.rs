//! `Libp2pTransport` on 127.0.0.1 passes the transport conformance suite.

mod common;

use parsec_sim::transport_suite;

#[test]
fn the_libp2p_transport_passes_the_transport_suite() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(transport_suite::run(&mut common::Loopback::new()))?;
    println!("{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.passed.len(), 9, "{report:?}");
    Ok(())
}
