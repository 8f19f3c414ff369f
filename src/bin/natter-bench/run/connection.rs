//! The task that owns one connection: it reads and classifies every frame,
//! counts deliveries, acks and errors, sends its scheduled messages, answers
//! pings, and records how the connection closed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use super::layout::ConnSpec;
use super::schedule::{Schedule, gap_micros, plan_publishers};
use crate::stats::{Local, SHARDS};
use crate::target::{self, Incoming, Marker, RoomSpot, SendTemplate};
use crate::wsclient::{Filled, Frame, WsClient};

/// Messages one publisher may catch up on in one wake-up when it is late;
/// the rest follow on the next turn, so reading is never starved.
const MAX_BURST: u32 = 64;
/// Publisher numbers each generator process has in a marker: process `n`
/// numbers its publishers from `n * ORIGIN_STRIDE`.
pub(crate) const ORIGIN_STRIDE: u32 = 1 << 20;
/// A natter publisher's sends awaiting their ack, at most. Beyond it the
/// server is hopelessly behind; later sends are counted as refused.
const MAX_OUTSTANDING_ACKS: usize = 100_000;

pub(super) async fn connection_task(
    ctx: Arc<Ctx>,
    spec: ConnSpec,
    mut ws: WsClient,
    spot: RoomSpot,
    sender: String,
) {
    let target = ctx.settings.target;
    let shard = &ctx.shards[spec.index % SHARDS];
    let room = &ctx.rooms[spec.room];
    let template = SendTemplate::new(target, &spot, &sender);
    let mut local = Local::default();
    let mut control = ctx.control.clone();
    let mut last_seq = vec![0u32; room.publishers as usize];
    let own_publishers = ctx.settings.origin * ORIGIN_STRIDE;
    let mut outstanding: VecDeque<(u32, bool, u64)> = VecDeque::new();
    // Seeded per connection and per generator process: processes of one
    // run must not draw the same gaps (their publishers would send at once).
    let seed = (spec.index as u64 + 1) ^ (u64::from(ctx.settings.origin) << 40);
    let mut random = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut marker = Vec::with_capacity(48);
    let mut client_id = Vec::with_capacity(24);
    let mut seq: u32 = 0;
    let mut schedule: Option<Schedule> = None;
    let mut current_step: Option<u32> = None;
    let mut reading = true;
    let mut closed = false;
    let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let at = |micros: f64| tokio::time::Instant::from_std(ctx.epoch + Duration::from_micros(micros as u64));
    let mut close_code: Option<u16> = None;
    loop {
        tokio::select! {
            biased;
            changed = control.changed() => {
                if changed.is_err() {
                    break;
                }
                let orders = control.borrow_and_update().clone();
                local.flush(shard);
                if orders.stop {
                    if !spec.reader && !closed {
                        // A slow consumer never looked: did the server close it?
                        close_code = closed_while_not_reading(&mut ws).await;
                    }
                    break;
                }
                if let Some(plan) = orders.step
                    && current_step != Some(plan.index)
                {
                    current_step = Some(plan.index);
                    if !spec.reader {
                        reading = false;
                    }
                    if let (Some((_, global)), false) = (spec.publisher, closed) {
                        let total = (plan.per_publisher_rate > 0.0).then_some(());
                        schedule = total.map(|()| {
                            let first = if plan.poisson {
                                plan.start_micros as f64 + gap_micros(&plan, &mut random)
                            } else {
                                // Spread the publishers' phases evenly over one gap.
                                let publishers = plan_publishers(&ctx);
                                plan.start_micros as f64
                                    + gap_micros(&plan, &mut random) * (global as f64 / publishers as f64)
                            };
                            Schedule { plan, next: first }
                        });
                        if let Some(schedule) = &schedule {
                            timer.as_mut().reset(at(schedule.next));
                        }
                    }
                }
            }
            ready = ws.stream.readable(), if reading && !closed => {
                let outcome = match ready {
                    Err(error) => Err(error),
                    Ok(()) => ws.try_fill(),
                };
                match outcome {
                    Ok(Filled::Nothing) => continue,
                    Ok(Filled::End) | Err(_) => {
                        close_code.get_or_insert(1006);
                        closed = true;
                    }
                    Ok(Filled::Data) => {}
                }
                let now = ctx.now_micros();
                let mut batch_full = false;
                while !closed {
                    let incoming = match ws.next_frame() {
                        Ok(None) => break,
                        Err(_) => {
                            close_code.get_or_insert(1002);
                            closed = true;
                            break;
                        }
                        Ok(Some(Frame::Close(code))) => {
                            close_code = Some(code);
                            closed = true;
                            break;
                        }
                        Ok(Some(Frame::Text(text))) => {
                            let incoming = target::classify(target, text);
                            if matches!(incoming, Incoming::Error) && local.first_error.is_none() {
                                local.first_error = Some(String::from_utf8_lossy(text).into_owned());
                            }
                            incoming
                        }
                    };
                    match incoming {
                        Incoming::Delivery(found) => {
                            if !spec.reader {
                                continue;
                            }
                            // Another generator's message: not ours to count.
                            let Some(publisher) =
                                found.publisher.checked_sub(own_publishers).filter(|p| *p < ORIGIN_STRIDE)
                            else {
                                continue;
                            };
                            let Some(last) = last_seq.get_mut(publisher as usize) else { continue };
                            if found.seq > *last {
                                *last = found.seq;
                                let latency = now.saturating_sub(found.intended_micros);
                                batch_full |= local.delivered(found.step as usize, latency, found.in_window);
                            } else {
                                local.duplicate(found.step as usize);
                            }
                        }
                        Incoming::Ack => {
                            if let Some((step, in_window, intended)) = outstanding.pop_front() {
                                batch_full |= local.acked(step as usize, now.saturating_sub(intended), in_window);
                            }
                        }
                        Incoming::Error => {
                            if let Some((step, _, _)) = outstanding.pop_front() {
                                local.error(step as usize, room.readers);
                            }
                        }
                        Incoming::EngineIoPing => {
                            ws.queue_text(b"3");
                        }
                        Incoming::Disconnected => {
                            close_code.get_or_insert(1000);
                            closed = true;
                        }
                        Incoming::Other => {}
                    }
                }
                if ws.has_pending_write() && ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                }
                if batch_full {
                    local.flush(shard);
                }
                if closed {
                    schedule = None;
                }
            }
            ready = ws.stream.writable(), if ws.has_pending_write() && !closed => {
                if ready.is_err() || ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                    schedule = None;
                }
            }
            () = &mut timer, if schedule.is_some() => {
                let Some(current) = schedule.as_mut() else { continue };
                let plan = current.plan;
                let now = ctx.now_micros() as f64;
                let mut burst = 0;
                let publisher = own_publishers + spec.publisher.map_or(0, |(in_room, _)| in_room);
                while current.next <= now && current.next < plan.end_micros as f64 && burst < MAX_BURST {
                    burst += 1;
                    seq += 1;
                    let intended = current.next as u64;
                    let in_window = intended >= plan.window_micros;
                    Marker { step: plan.index, in_window, publisher, seq, intended_micros: intended }
                        .write(&mut marker);
                    let padding = &ctx.padding[..ctx.settings.payload.saturating_sub(marker.len())];
                    let queued = if template.uses_client_id {
                        use std::io::Write as _;
                        client_id.clear();
                        write!(client_id, "c{:x}-{seq:x}", spec.index).expect("writing to a Vec cannot fail");
                        outstanding.len() < MAX_OUTSTANDING_ACKS
                            && ws.queue_text_parts(&[
                                &template.head,
                                &client_id,
                                &template.middle,
                                &marker,
                                padding,
                                &template.tail,
                            ])
                    } else {
                        ws.queue_text_parts(&[&template.head, &marker, padding, &template.tail])
                    };
                    if queued {
                        local.sent(plan.index as usize, room.readers);
                        if template.uses_client_id {
                            outstanding.push_back((plan.index, in_window, intended));
                        }
                    } else {
                        local.refused(plan.index as usize);
                    }
                    current.next += gap_micros(&plan, &mut random);
                }
                if current.next >= plan.end_micros as f64 {
                    schedule = None;
                } else {
                    timer.as_mut().reset(at(current.next));
                }
                if ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                    schedule = None;
                }
            }
        }
    }
    local.flush(shard);
    if let Some(code) = close_code {
        let mut data = shard.lock().expect("a shard lock is never held across a panic");
        data.closed += 1;
        match data.close_codes.iter_mut().find(|(c, _)| *c == code) {
            Some(entry) => entry.1 += 1,
            None => data.close_codes.push((code, 1)),
        }
    }
}

/// Reads what a connection that stopped reading was sent, looking for the
/// server's close (or the end of the stream). Bounded in time: a server that
/// kept it open still has data for it after this.
async fn closed_while_not_reading(ws: &mut WsClient) -> Option<u16> {
    let look = async {
        loop {
            loop {
                match ws.next_frame() {
                    Ok(Some(Frame::Close(code))) => return Some(code),
                    Ok(Some(Frame::Text(_))) => {}
                    Ok(None) => break,
                    Err(_) => return Some(1002),
                }
            }
            match ws.fill().await {
                Ok(true) => {}
                Ok(false) | Err(_) => return Some(1006),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), look).await.ok().flatten()
}
