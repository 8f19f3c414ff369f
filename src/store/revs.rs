//! The rev stream without an index on every message's rev, which every
//! append would pay for: how both backends read a channel's changes in rev
//! order, and how `first_rev` is derived where it was never kept.
//!
//! A message's `first_rev` is NULL until it first changes (an edit, a
//! deletion, a reaction), when it takes the message's rev of then; so only
//! changed messages are in the partial index `messages_changed` on
//! `(channel_id, rev)`. The database keeps `first_rev` itself, by a
//! trigger on every change of `rev` (the schemas' `messages_first_rev`),
//! so that whatever changes a message keeps it right, an older node
//! during a rolling upgrade included. Let K be `COALESCE(first_rev, rev)`,
//! the rev a message was sent at. What the reads below rely on:
//!
//! - K never falls as seq rises in a channel (seq and rev are taken
//!   together, under the same lock, when a message is stored), and once
//!   set it never changes;
//! - K is at most the message's rev, and equal to it exactly when
//!   `first_rev` is NULL.
//!
//! So the messages whose latest rev is past R are the unchanged ones from
//! the first seq whose K is past R on (read by seq, their revs rising with
//! it), and the changed ones past R (read from the partial index).
//!
//! Messages changed before `first_rev` existed (a migrated database) or
//! loaded by an import keep no record of the rev they were sent at; they
//! get the lowest K of themselves and every later message, their own K
//! taken as their rev ([`DERIVE_FIRST_REVS`]; on a database where every
//! `first_rev` is NULL, the lowest rev), which keeps both rules true, and
//! those whose value is their own rev count as unchanged.

use super::rows::MESSAGE_COLUMNS;

/// Up to `limit` messages of `channel` whose latest rev is past `after`,
/// in rev order: the `limit` first unchanged ones from the first seq whose
/// K is past `after`, and the `limit` first changed ones past `after`,
/// merged. The first seq is found by halving the channel's seq range
/// (about 2 log2(last seq) lookups by seq), so a catch-up that pages
/// through a long stretch costs the same per page at its start as at its
/// end. The unchanged side passes over the changed messages among the
/// ones it reads; a page does not return to those before the last
/// unchanged message it took. One statement: one snapshot. Takes each
/// store's placeholders for the channel, the rev and the limit.
pub(super) fn changes_after_sql(channel: &str, after: &str, limit: &str) -> String {
    // K of the first message at or past the middle of the range left;
    // NULL (no such message) counts as not past `after`.
    let middle = format!(
        "(SELECT COALESCE(first_rev, rev) FROM messages
          WHERE channel_id = {channel} AND seq >= (lo + hi) / 2 ORDER BY seq LIMIT 1)"
    );
    format!(
        "WITH RECURSIVE halves(lo, hi) AS (
             SELECT CAST(1 AS BIGINT), last_seq + 1 FROM channels WHERE id = {channel}
             UNION ALL
             SELECT CASE WHEN {middle} > {after} THEN lo ELSE (lo + hi) / 2 + 1 END,
                    CASE WHEN {middle} > {after} THEN (lo + hi) / 2 ELSE hi END
             FROM halves WHERE lo < hi
         ),
         picked(id) AS (
             SELECT id FROM (
                 SELECT id FROM messages
                 WHERE channel_id = {channel} AND first_rev IS NULL
                   AND seq >= (SELECT lo FROM halves WHERE lo >= hi)
                 ORDER BY seq LIMIT {limit}
             ) AS unchanged
             UNION ALL
             SELECT id FROM (
                 SELECT id FROM messages
                 WHERE channel_id = {channel} AND first_rev IS NOT NULL AND rev > {after}
                 ORDER BY rev LIMIT {limit}
             ) AS changed
         )
         SELECT {MESSAGE_COLUMNS}
         FROM picked JOIN messages m ON m.id = picked.id JOIN users u ON u.id = m.sender_id
         ORDER BY m.rev LIMIT {limit}"
    )
}

/// Where a replay of the messages after `seq` starts in the rev stream:
/// just before the lowest rev of any of them, or the head when there is
/// none (0 for no such channel). That is the lower of the first unchanged
/// one's rev and the lowest changed one's; every changed message past
/// `seq` changed after the first of them was sent, so the changed side
/// reads the partial index only from there. One statement, one snapshot.
pub(super) fn rev_before_sql(channel: &str, seq: &str) -> String {
    format!(
        "SELECT COALESCE(
             (SELECT MIN(rev) - 1 FROM (
                  SELECT rev FROM (
                      SELECT rev FROM messages
                      WHERE channel_id = {channel} AND seq > {seq} AND first_rev IS NULL
                      ORDER BY seq LIMIT 1
                  ) AS unchanged
                  UNION ALL
                  SELECT rev FROM (
                      SELECT rev FROM messages
                      WHERE channel_id = {channel} AND first_rev IS NOT NULL AND seq > {seq}
                        AND rev > (SELECT COALESCE(first_rev, rev) FROM messages
                                   WHERE channel_id = {channel} AND seq > {seq} ORDER BY seq LIMIT 1)
                      ORDER BY rev LIMIT 1
                  ) AS changed
              ) AS lowest),
             (SELECT last_rev FROM channels WHERE id = {channel}),
             0)"
    )
}

/// Gives every message whose K is unknown (`first_rev` NULL, but changed
/// since it was sent, in a database that kept no record of it) the lowest
/// K of itself and every later message of its channel (taking its rev for
/// its own), where that is below its rev; a `first_rev` already set stays.
/// Run by the migration that adds `first_rev` and after an import, on
/// both backends.
pub(super) const DERIVE_FIRST_REVS: &str = "
    UPDATE messages SET first_rev = later.lowest
    FROM (SELECT id, MIN(COALESCE(first_rev, rev)) OVER (PARTITION BY channel_id ORDER BY seq DESC) AS lowest
          FROM messages) AS later
    WHERE later.id = messages.id AND messages.first_rev IS NULL AND later.lowest < messages.rev";
