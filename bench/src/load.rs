//! Load generators over plain HTTP/1.1 keep-alive connections to 127.0.0.1: closed loop (each
//! connection sends its next request when the last one is answered: maximum throughput) and
//! open loop (requests leave on a fixed schedule whatever the answers do: latency at a rate).
//! Both stop on their own after a bounded count and a bounded time.

use crate::stats::Samples;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One request to send: headers and the exact body bytes.
#[derive(Clone)]
pub struct Message {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
}

/// What one load run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latencies: Samples,
    pub statuses: BTreeMap<u16, usize>,
    pub errors: usize,
    pub elapsed: Duration,
    /// Open loop only: the latest any request left after its scheduled time.
    pub max_schedule_lag: Duration,
}

impl Outcome {
    pub fn answered(&self) -> usize {
        self.statuses.values().sum()
    }

    pub fn per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Answers with a status other than `expected`, plus transport errors.
    pub fn unexpected(&self, expected: u16) -> usize {
        self.errors
            + self
                .statuses
                .iter()
                .filter(|(s, _)| **s != expected)
                .map(|(_, n)| n)
                .sum::<usize>()
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.errors += other.errors;
        self.max_schedule_lag = self.max_schedule_lag.max(other.max_schedule_lag);
    }
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender })
    }

    /// Send one request and read the whole answer; returns its status.
    async fn send(&mut self, target: &Target, message: &Message) -> Result<u16, hyper::Error> {
        let mut request = hyper::Request::post(target.path.as_str())
            .header(hyper::header::HOST, target.addr.to_string())
            .body(Full::new(message.body.clone()))
            .expect("valid request");
        for (name, value) in &message.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// Send one request, reconnecting if the connection is gone.
async fn send_on(
    conn: &mut Option<Connection>,
    target: &Target,
    message: &Message,
) -> Result<u16, String> {
    if conn.is_none() {
        *conn = Some(
            Connection::open(target.addr)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let c = conn.as_mut().expect("just opened");
    match c.send(target, message).await {
        Ok(status) => Ok(status),
        Err(e) => {
            *conn = None;
            Err(e.to_string())
        }
    }
}

/// `concurrency` connections each send their next request as soon as the last is answered,
/// until `count` requests were sent or `max_time` passed. Message `i` is `messages[i % len]`.
pub async fn closed_loop(
    target: &Target,
    messages: Arc<Vec<Message>>,
    count: usize,
    concurrency: usize,
    max_time: Duration,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max_time;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (target, messages, next) = (target.clone(), messages.clone(), next.clone());
        workers.spawn(async move {
            let mut out = Outcome::default();
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    return out;
                }
                let message = &messages[i % messages.len()];
                let sent = Instant::now();
                match send_on(&mut conn, &target, message).await {
                    Ok(status) => {
                        out.latencies.push(sent.elapsed());
                        *out.statuses.entry(status).or_default() += 1;
                    }
                    Err(_) => out.errors += 1,
                }
            }
        });
    }
    let mut total = Outcome::default();
    while let Some(done) = workers.join_next().await {
        total.merge(done.expect("load worker does not panic"));
    }
    total.elapsed = start.elapsed();
    total
}

/// Send `rate` requests per second for `duration`, each leaving at its scheduled time on one of
/// `connections` connections. Latency is measured from the scheduled time, so a request that
/// had to wait for a free connection (the server fell behind) counts its wait too; the worst
/// lag behind schedule is reported as well. The timer's 1 ms resolution is part of the figure.
pub async fn open_loop(
    target: &Target,
    messages: Arc<Vec<Message>>,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> Outcome {
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-9));
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (target, messages, next) = (target.clone(), messages.clone(), next.clone());
        workers.spawn(async move {
            let mut out = Outcome::default();
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return out;
                }
                let scheduled = start + interval.mul_f64(i as f64);
                tokio::time::sleep_until(scheduled).await;
                let sent = tokio::time::Instant::now();
                out.max_schedule_lag = out.max_schedule_lag.max(sent - scheduled);
                let message = &messages[i % messages.len()];
                match send_on(&mut conn, &target, message).await {
                    Ok(status) => {
                        out.latencies.push(scheduled.elapsed());
                        *out.statuses.entry(status).or_default() += 1;
                    }
                    Err(_) => out.errors += 1,
                }
            }
        });
    }
    let mut total = Outcome::default();
    while let Some(done) = workers.join_next().await {
        total.merge(done.expect("load worker does not panic"));
    }
    total.elapsed = start.elapsed();
    total
}
