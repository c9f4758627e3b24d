//! Background work: apalis queues for provisioning, ticket notes and expiry, and the sweeper.

pub mod queue;
