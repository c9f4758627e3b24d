//! What every handler can reach: the service's one shared [`Services`] value.

use crate::services::Services;
use std::sync::Arc;

pub type AppState = Arc<Services>;
