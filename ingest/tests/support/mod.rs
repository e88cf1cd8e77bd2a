//! What the ingest tests share: a devnet served on a fresh loopback port.

use devnet::faults::Fault;
use devnet::server::{AppState, SharedDevnet, serve};

/// Serves `devnet` (lying as `fault` says, if given) on a fresh port;
/// returns its URL. The server stops when the test's runtime ends.
pub async fn serve_devnet(devnet: &SharedDevnet, fault: Option<Fault>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/",
        listener.local_addr().expect("the listener's address")
    );
    tokio::spawn(serve(
        listener,
        AppState::new(devnet.clone(), fault),
        std::future::pending(),
    ));
    url
}
