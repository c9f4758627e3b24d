//! Graph's pace ([`Pace`]): deterministic draws, latency, replication lag, random 429s and the
//! per app+tenant budget. The rules, with the Microsoft pages they follow, are in the module
//! docs of `graph`.

use std::collections::VecDeque;

use super::*;

/// The pace in force and what it has counted so far.
pub(super) struct PaceState {
    pub(super) pace: Pace,
    /// The next sequence number of each tenant (its Graph calls, inner batch requests and token
    /// requests alike, in arrival order).
    sequences: HashMap<String, u64>,
    /// Resource units and writes spent per (tenant, app), Graph's throttling scope.
    budgets: HashMap<(String, String), BudgetUse>,
}

impl PaceState {
    pub(super) fn new(pace: Pace) -> PaceState {
        PaceState {
            pace,
            sequences: HashMap::new(),
            budgets: HashMap::new(),
        }
    }

    fn next_sequence(&mut self, tenant: &str) -> u64 {
        let next = self.sequences.entry(tenant.to_string()).or_insert(0);
        let sequence = *next;
        *next += 1;
        sequence
    }

    fn draw(&self, tenant: &str, sequence: u64, purpose: Purpose) -> f64 {
        unit_draw(self.pace.seed, tenant, sequence, purpose)
    }

    fn draw_between(
        &self,
        range: (Duration, Duration),
        tenant: &str,
        sequence: u64,
        purpose: Purpose,
    ) -> Duration {
        between(range, self.draw(tenant, sequence, purpose))
    }
}

/// What a draw is for: the same request draws independently for each purpose.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    CallLatency,
    TokenLatency,
    Throttle,
    ReplicationLag,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::CallLatency => b"call-latency",
            Purpose::TokenLatency => b"token-latency",
            Purpose::Throttle => b"throttle",
            Purpose::ReplicationLag => b"replication-lag",
        }
    }
}

/// A number in [0, 1) that depends only on its inputs: a hash, not a shared random generator,
/// so one tenant's answers never depend on how other tenants' requests interleave with its own.
pub(super) fn unit_draw(seed: u64, tenant: &str, sequence: u64, purpose: Purpose) -> f64 {
    // FNV-1a over the inputs (fields separated so "ab"+"c" differs from "a"+"bc"), then the
    // SplitMix64 finalizer to spread FNV's weak low bits over the whole word.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(&seed.to_le_bytes());
    feed(tenant.as_bytes());
    feed(&sequence.to_le_bytes());
    feed(purpose.label());
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // The top 53 bits fill an f64's mantissa exactly.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `unit` in [0, 1) mapped onto [lo, hi] (either order).
pub(super) fn between(range: (Duration, Duration), unit: f64) -> Duration {
    let (lo, hi) = if range.0 <= range.1 {
        range
    } else {
        (range.1, range.0)
    };
    lo + (hi - lo).mul_f64(unit)
}

/// `Retry-After` is whole seconds: rounded up, and never 0 (which would invite a busy loop).
pub(super) fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The facts about one request the pace decides on.
pub(super) struct RequestFacts<'a> {
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) bearer: Option<&'a str>,
    /// Carried inside a `$batch` (no latency of its own).
    pub(super) batched: bool,
}

/// The request's number in its tenant's sequence, for draws made by the handler (the
/// replication lag of a created user).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CallTicket {
    pub(super) sequence: u64,
}

/// What the pace decided for one request, at its arrival.
#[derive(Default)]
pub(super) struct PaceVerdict {
    pub(super) latency: Duration,
    pub(super) throttle: Option<Throttle>,
    pub(super) ticket: CallTicket,
}

/// Why a request is answered 429.
pub(super) enum Throttle {
    /// The configured share of calls ([`Pace::throttle_share`]).
    Random { retry_after_secs: u64 },
    /// The app+tenant budget ([`Pace::budget`]) is spent.
    Budget(BudgetExceeded),
}

pub(super) struct BudgetExceeded {
    pub(super) limit: BudgetLimit,
    pub(super) retry_after_secs: u64,
    pub(super) app_id: String,
    pub(super) tenant_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BudgetLimit {
    Writes,
    ResourceUnits,
}

impl BudgetExceeded {
    /// `x-ms-throttle-scope`: `<Scope>/<Limit>/<ApplicationId>/<TenantId>`, with `ReadWrite`
    /// for the resource-unit quota, which counts every request
    /// (https://learn.microsoft.com/graph/throttling-limits, "Throttled responses requests").
    pub(super) fn scope(&self) -> String {
        let limit = match self.limit {
            BudgetLimit::Writes => "Write",
            BudgetLimit::ResourceUnits => "ReadWrite",
        };
        format!(
            "Tenant_Application/{limit}/{}/{}",
            self.app_id, self.tenant_id
        )
    }

    /// `x-ms-throttle-information`, as the same page names the two reasons.
    pub(super) fn information(&self) -> &'static str {
        match self.limit {
            BudgetLimit::Writes => "WriteLimitExceeded",
            BudgetLimit::ResourceUnits => "ResourceUnitLimitExceeded",
        }
    }
}

/// What kind of request the pace sees.
enum Paced {
    /// `/{tenant}/oauth2/v2.0/token`, with the tenant key it resolves to.
    Token { tenant: String },
    /// `/v1.0/…`, with the caller (tenant key, client id) when the bearer is valid.
    Graph { caller: Option<(String, String)> },
    /// The consent page: not paced.
    Other,
}

impl SimState {
    /// Decides latency and throttling for one arriving request; without a pace, nothing.
    pub(super) fn pace_verdict(&mut self, facts: &RequestFacts) -> PaceVerdict {
        if self.pace.is_none() {
            return PaceVerdict::default();
        }
        let paced = self.classify_paced(facts);
        let now = Instant::now();
        let Some(state) = self.pace.as_mut() else {
            return PaceVerdict::default();
        };
        match paced {
            Paced::Other => PaceVerdict::default(),
            Paced::Token { tenant } => {
                let sequence = state.next_sequence(&tenant);
                PaceVerdict {
                    latency: state.draw_between(
                        state.pace.token_latency,
                        &tenant,
                        sequence,
                        Purpose::TokenLatency,
                    ),
                    throttle: None,
                    ticket: CallTicket { sequence },
                }
            }
            Paced::Graph { caller } => {
                let tenant = caller.as_ref().map(|(t, _)| t.as_str()).unwrap_or("");
                let sequence = state.next_sequence(tenant);
                // A batch's round trip carries the one latency; its requests add none.
                let latency = if facts.batched {
                    Duration::ZERO
                } else {
                    state.draw_between(
                        state.pace.call_latency,
                        tenant,
                        sequence,
                        Purpose::CallLatency,
                    )
                };
                // Requests inside a batch are throttled one by one; the envelope is not
                // (https://learn.microsoft.com/graph/json-batching, "Batch size limitations").
                // Without a valid bearer the handler answers 401 before any limit applies.
                let throttle = match &caller {
                    Some((tenant, app)) if facts.path != BATCH_PATH => {
                        state.throttle(facts, tenant, app, sequence, now)
                    }
                    _ => None,
                };
                PaceVerdict {
                    latency,
                    throttle,
                    ticket: CallTicket { sequence },
                }
            }
        }
    }

    fn classify_paced(&self, facts: &RequestFacts) -> Paced {
        if facts.path.starts_with("/v1.0/") {
            return Paced::Graph {
                caller: facts.bearer.and_then(|b| self.caller_of(b)),
            };
        }
        match facts.path.strip_suffix("/oauth2/v2.0/token") {
            Some(segment) => {
                let segment = segment.trim_start_matches('/');
                let tenant = self
                    .resolve_tenant(segment)
                    .unwrap_or_else(|| segment.to_ascii_lowercase());
                Paced::Token { tenant }
            }
            None => Paced::Other,
        }
    }

    /// (tenant key, client id) of a bearer the Graph handlers would accept.
    fn caller_of(&self, bearer: &str) -> Option<(String, String)> {
        let token = self.tokens.get(bearer)?;
        let valid =
            token.expires_at > Instant::now() && self.tenants.contains_key(&token.tenant_key);
        valid.then(|| (token.tenant_key.clone(), token.client_id.clone()))
    }

    /// How long a user created by the request numbered `sequence` stays unreplicated.
    pub(super) fn replication_lag_for(&self, tenant: &str, ticket: CallTicket) -> Duration {
        match &self.pace {
            Some(state) => state.draw_between(
                state.pace.replication_lag,
                tenant,
                ticket.sequence,
                Purpose::ReplicationLag,
            ),
            None => self.replication_lag,
        }
    }
}

impl PaceState {
    /// Charges the budget (a throttled request still counts: "Microsoft Graph continues to
    /// log resource usage while a client is being throttled",
    /// https://learn.microsoft.com/graph/throttling), then draws the random share.
    fn throttle(
        &mut self,
        facts: &RequestFacts,
        tenant: &str,
        app: &str,
        sequence: u64,
        now: Instant,
    ) -> Option<Throttle> {
        if let Some(budget) = self.pace.budget.clone() {
            let cost = request_cost(facts.method, facts.path, facts.query);
            let spent = self
                .budgets
                .entry((tenant.to_string(), app.to_string()))
                .or_default();
            if let Some((limit, wait)) = spent.charge(&budget, cost, now) {
                return Some(Throttle::Budget(BudgetExceeded {
                    limit,
                    retry_after_secs: whole_seconds(wait),
                    app_id: app.to_string(),
                    tenant_id: tenant.to_string(),
                }));
            }
        }
        let share = self.pace.throttle_share;
        (share > 0.0 && self.draw(tenant, sequence, Purpose::Throttle) < share).then(|| {
            Throttle::Random {
                retry_after_secs: whole_seconds(self.pace.throttle_retry_after),
            }
        })
    }
}

/// A request's cost in (resource units, writes), from the identity-and-access table of
/// https://learn.microsoft.com/graph/throttling-limits: writes cost 1 and 1; `GET users`
/// costs 2 and any other GET 1; `$select` lowers the cost by 1, `$expand` raises it by 1,
/// `$top` under 20 lowers it by 1; never below 1. The table lists the path `users`; this
/// charges 2 for every GET under `users/` too (the stricter reading).
pub(super) fn request_cost(method: &Method, path: &str, query: Option<&str>) -> RequestCost {
    let resource = path.trim_start_matches("/v1.0/");
    let is_write = [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(method);
    let base: i64 = if !is_write && (resource == "users" || resource.starts_with("users/")) {
        2
    } else {
        1
    };
    let params = query_params(query);
    let mut units = base;
    if params.contains_key("$select") {
        units -= 1;
    }
    if params.contains_key("$expand") {
        units += 1;
    }
    if params
        .get("$top")
        .and_then(|top| top.trim().parse::<u32>().ok())
        .is_some_and(|top| top < 20)
    {
        units -= 1;
    }
    RequestCost {
        resource_units: units.max(1) as u32,
        writes: u32::from(is_write),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RequestCost {
    pub(super) resource_units: u32,
    pub(super) writes: u32,
}

/// What one app+tenant pair spent in its current windows.
#[derive(Default)]
struct BudgetUse {
    resource_units: SlidingWindow,
    writes: SlidingWindow,
}

impl BudgetUse {
    /// Records the cost; the exhausted limit and how long until it has room again, if over.
    fn charge(
        &mut self,
        budget: &TenantBudget,
        cost: RequestCost,
        now: Instant,
    ) -> Option<(BudgetLimit, Duration)> {
        let writes = self
            .writes
            .charge(now, budget.write_window, budget.writes, cost.writes);
        let units = self.resource_units.charge(
            now,
            budget.ru_window,
            budget.resource_units,
            cost.resource_units,
        );
        writes
            .map(|wait| (BudgetLimit::Writes, wait))
            .or(units.map(|wait| (BudgetLimit::ResourceUnits, wait)))
    }
}

/// Costs spent in the last `window`, oldest first.
#[derive(Default)]
struct SlidingWindow {
    entries: VecDeque<(Instant, u32)>,
    used: u64,
}

impl SlidingWindow {
    /// Records `cost` at `now`; when that puts the window over `limit`, how long until a
    /// request of the same cost fits again.
    fn charge(
        &mut self,
        now: Instant,
        window: Duration,
        limit: u32,
        cost: u32,
    ) -> Option<Duration> {
        if cost == 0 {
            return None;
        }
        while let Some(&(at, spent)) = self.entries.front() {
            if now.duration_since(at) < window {
                break;
            }
            self.entries.pop_front();
            self.used -= u64::from(spent);
        }
        self.entries.push_back((now, cost));
        self.used += u64::from(cost);
        let limit = u64::from(limit);
        if self.used <= limit {
            return None;
        }
        let mut freed = 0;
        for &(at, spent) in &self.entries {
            freed += u64::from(spent);
            if self.used - freed + u64::from(cost) <= limit {
                return Some((at + window).saturating_duration_since(now));
            }
        }
        Some(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_only_on_their_inputs() {
        let a = unit_draw(7, "tenant-a", 3, Purpose::Throttle);
        assert_eq!(a, unit_draw(7, "tenant-a", 3, Purpose::Throttle));
        assert_ne!(a, unit_draw(8, "tenant-a", 3, Purpose::Throttle));
        assert_ne!(a, unit_draw(7, "tenant-b", 3, Purpose::Throttle));
        assert_ne!(a, unit_draw(7, "tenant-a", 4, Purpose::Throttle));
        assert_ne!(a, unit_draw(7, "tenant-a", 3, Purpose::CallLatency));
    }

    #[test]
    fn draws_spread_over_the_unit_interval() {
        let draws: Vec<f64> = (0..10_000)
            .map(|n| unit_draw(1, "t", n, Purpose::CallLatency))
            .collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below_tenth = draws.iter().filter(|d| **d < 0.1).count();
        assert!((800..1200).contains(&below_tenth), "{below_tenth}");
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.48..0.52).contains(&mean), "{mean}");
    }

    #[test]
    fn ranges_map_onto_their_bounds() {
        let range = (Duration::from_millis(80), Duration::from_millis(250));
        assert_eq!(between(range, 0.0), Duration::from_millis(80));
        assert!(between(range, 0.999_999) <= Duration::from_millis(250));
        assert_eq!(
            between((Duration::from_secs(2), Duration::from_secs(2)), 0.5),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn costs_follow_the_identity_table() {
        let cost = |method: Method, path: &str, query: Option<&str>| {
            let c = request_cost(&method, path, query);
            (c.resource_units, c.writes)
        };
        assert_eq!(cost(Method::POST, "/v1.0/users", None), (1, 1));
        assert_eq!(cost(Method::DELETE, "/v1.0/users/x", None), (1, 1));
        assert_eq!(cost(Method::GET, "/v1.0/users", None), (2, 0));
        assert_eq!(
            cost(Method::GET, "/v1.0/users/x", Some("$select=id")),
            (1, 0)
        );
        assert_eq!(
            cost(Method::GET, "/v1.0/users", Some("$expand=manager")),
            (3, 0)
        );
        assert_eq!(
            cost(Method::GET, "/v1.0/users", Some("$select=id&$top=5")),
            (1, 0)
        );
        assert_eq!(cost(Method::GET, "/v1.0/domains", None), (1, 0));
        assert_eq!(
            cost(Method::GET, "/v1.0/domains", Some("$select=id")),
            (1, 0)
        );
    }

    #[test]
    fn a_sliding_window_counts_throttled_requests_and_names_the_wait() {
        let mut window = SlidingWindow::default();
        let start = Instant::now();
        let span = Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(window.charge(start, span, 3, 1), None);
        }
        let later = start + Duration::from_secs(4);
        // Over: room again when the first two calls of `start` have left the window.
        assert_eq!(
            window.charge(later, span, 3, 1),
            Some(Duration::from_secs(6))
        );
        // The throttled call still counts: at start + 10 s two slots are free, not three.
        let after = start + span;
        assert_eq!(window.charge(after, span, 3, 1), None);
        assert_eq!(window.charge(after, span, 3, 1), None);
        assert!(window.charge(after, span, 3, 1).is_some());
    }
}
