//! The shell's side of [`Call`]s: connections to peers, one per (node, lane).
//!
//! Inputs: calls from the server task. Outputs: one [`CallResult`] per call, sent back on the
//! results channel the server task reads. Each (node, lane) has a link task that owns its
//! [`Connection`]: it connects on the first call (and again after the connection closed or
//! the peer's address changed) and pipelines calls on it, each in its own task so a slow
//! answer does not hold the link. A connect failure fails that call; the server decides when
//! to retry, so the shell never loops on an unreachable peer by itself.

use crate::client::{ClientConfig, Connection};
use crate::server::{Call, CallFailed, CallId, CallResult, Lane, PeerAddress};
use crate::BrokerId;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A call's result, tagged with its id, on its way back to the server task.
pub type Delivered = (CallId, CallResult);

/// Every link of one server.
pub struct Peers {
    config: ClientConfig,
    links: BTreeMap<(BrokerId, Lane), Link>,
    results: mpsc::UnboundedSender<Delivered>,
}

struct Link {
    calls: mpsc::UnboundedSender<Call>,
    task: JoinHandle<()>,
}

impl Peers {
    /// `config` supplies the client id and connect timeout; results arrive on `results`.
    pub fn new(config: ClientConfig, results: mpsc::UnboundedSender<Delivered>) -> Peers {
        Peers { config, links: BTreeMap::new(), results }
    }

    /// Sends `call` on its lane, starting the link if needed.
    pub fn call(&mut self, call: Call) {
        let key = (call.to.node_id, call.lane);
        let call = match self.links.get(&key) {
            Some(link) => match link.calls.send(call) {
                Ok(()) => return,
                // The link task has stopped; start a new one below.
                Err(mpsc::error::SendError(call)) => call,
            },
            None => call,
        };
        let (calls, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(link_loop(self.config.clone(), inbox, self.results.clone()));
        calls.send(call).expect("the link task just started");
        if let Some(old) = self.links.insert(key, Link { calls, task }) {
            old.task.abort();
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for link in self.links.values() {
            link.task.abort();
        }
    }
}

async fn link_loop(
    config: ClientConfig,
    mut inbox: mpsc::UnboundedReceiver<Call>,
    results: mpsc::UnboundedSender<Delivered>,
) {
    let mut current: Option<(PeerAddress, Connection)> = None;
    while let Some(call) = inbox.recv().await {
        let reusable = matches!(&current, Some((to, connection))
            if *to == call.to && !connection.is_closed());
        if !reusable {
            current = None;
            match Connection::connect_to_node(&call.to.host, call.to.port, &config).await {
                Ok(connection) => current = Some((call.to.clone(), connection)),
                Err(error) => {
                    let failed =
                        CallFailed { call: call.id, to: call.to, reason: error.to_string() };
                    if results.send((failed.call, Err(failed))).is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let (_, connection) = current.as_ref().expect("connected above");
        let connection = connection.clone();
        let results = results.clone();
        tokio::spawn(async move {
            let timeout = Duration::from_millis(call.timeout_ms);
            let answer = connection
                .request_kind(call.api_key, &call.request, call.api_version, timeout)
                .await
                .map_err(|error| CallFailed {
                    call: call.id,
                    to: call.to.clone(),
                    reason: error.to_string(),
                });
            let _ = results.send((call.id, answer));
        });
    }
}
