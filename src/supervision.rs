//! What the service supervises: the parts that must run until shutdown (the HTTP server, each
//! job worker, the sweeper), and which of them stopped on their own. `app` runs and watches
//! them; `/readyz` reports [`Liveness`].

use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// Which supervised parts stopped on their own, for `/readyz`.
#[derive(Clone, Default, Debug)]
pub struct Liveness {
    stopped: Arc<Mutex<Vec<String>>>,
}

impl Liveness {
    pub fn mark_stopped(&self, part: &str) {
        self.stopped
            .lock()
            .expect("liveness lock")
            .push(part.to_string());
    }

    /// The parts that stopped, in the order they did; empty while everything runs.
    pub fn stopped(&self) -> Vec<String> {
        self.stopped.lock().expect("liveness lock").clone()
    }
}

/// Something that must run until shutdown: the HTTP server, a job worker, the sweeper.
pub struct Part {
    pub(crate) name: String,
    pub(crate) run: BoxFuture<'static, Result<(), String>>,
}

impl Part {
    pub fn new(
        name: impl Into<String>,
        run: impl Future<Output = Result<(), String>> + Send + 'static,
    ) -> Part {
        Part {
            name: name.into(),
            run: Box::pin(run),
        }
    }
}
