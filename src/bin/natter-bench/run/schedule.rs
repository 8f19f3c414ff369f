//! When a publisher's next message is due: its share of the step's rate,
//! at fixed intervals or with exponential (Poisson) gaps.

use super::{Ctx, StepPlan};

/// A publisher's place in its current step's schedule.
pub(super) struct Schedule {
    pub(super) plan: StepPlan,
    /// Intended time of the next message, µs since the epoch (fractional, so
    /// constant rates do not drift by rounding).
    pub(super) next: f64,
}

/// xorshift64*: cheap randomness for Poisson gaps, seeded per connection.
fn next_random(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let value = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
    // 53 random bits in (0, 1].
    ((value >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

pub(super) fn gap_micros(plan: &StepPlan, random: &mut u64) -> f64 {
    let mean = 1e6 / plan.per_publisher_rate;
    if plan.poisson { -next_random(random).ln() * mean } else { mean }
}

pub(super) fn plan_publishers(ctx: &Ctx) -> usize {
    ctx.rooms.iter().map(|room| room.publishers as usize).sum::<usize>().max(1)
}
