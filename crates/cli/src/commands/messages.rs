//! `nipee send|react|listen|sync`.

use std::time::Duration;

use nipee::Outcome;
use nipee_nostr::EventId;
use serde_json::json;

use super::{Ctx, find_group};
use crate::output::{Fail, describe};

/// How often `listen` lets the core do its periodic work.
pub const POLL_EVERY: Duration = Duration::from_secs(30);

pub async fn send(ctx: &mut Ctx, group: &str, text: &str) -> Result<(), Fail> {
    if text.trim().is_empty() {
        return Err(Fail::usage("nothing to send: `nipee send GROUP TEXT`"));
    }
    let mut d = ctx.connect_synced().await?;
    let gid = find_group(d.client(), group)?;
    ctx.out
        .step("sending and waiting for a relay's acknowledgement");
    let id = d.send_text(&gid, text).await?;
    ctx.out.emit(
        format!("sent {}", id.to_hex()),
        json!({"group": gid.to_hex(), "id": id.to_hex()}),
    );
    Ok(())
}

pub async fn react(ctx: &mut Ctx, group: &str, event_id: &str, emoji: &str) -> Result<(), Fail> {
    let target = EventId::from_hex(event_id).map_err(|e| {
        Fail::input(format!(
            "{event_id:?} is not an event id ({e}): copy the \"id\" of a message from `nipee listen --json`"
        ))
    })?;
    let mut d = ctx.connect_synced().await?;
    let gid = find_group(d.client(), group)?;
    ctx.out.step("sending the reaction");
    let id = d.react(&gid, &target, emoji).await?;
    ctx.out.emit(
        format!("reacted {emoji} ({})", id.to_hex()),
        json!({"group": gid.to_hex(), "id": id.to_hex(), "target": target.to_hex()}),
    );
    Ok(())
}

pub async fn sync(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut d = ctx.connect().await?;
    ctx.out.step("syncing with the relays");
    d.sync().await?;
    // Forget processed-event marks older than the retention the config names (safe: the
    // core recognises commits by content, and used message keys do not decrypt again).
    let retention = d.client().config().processed_retention_secs;
    d.client_mut()
        .prune_processed(nipee_driver::unix_now().saturating_sub(retention))?;
    let names = ctx.names(Some(d.client().public_key()));
    let mut shown = 0;
    // Everything the inbox holds: what this sync did, and what earlier commands read but
    // did not show (or a killed run did not finish showing). Acknowledged once printed.
    let inbox = d.inbox()?;
    for entry in &inbox {
        if let Some((text, value)) = describe(d.client(), &names, &entry.outcome) {
            ctx.out.emit(text, value);
            shown += 1;
        }
    }
    d.acknowledge(&inbox.iter().map(|e| e.id).collect::<Vec<_>>())?;
    let pending = d
        .client()
        .groups()
        .iter()
        .filter(|g| g.pending_commit)
        .count();
    let queued = d.client().outbox()?.len();
    ctx.out.done();
    if !ctx.out.json {
        let mut line = format!("synced: {shown} new");
        if pending > 0 {
            line.push_str(&format!(
                ", {pending} commit(s) still pending (run `nipee sync` again later)"
            ));
        }
        if queued > 0 {
            line.push_str(&format!(", {queued} event(s) still queued"));
        }
        ctx.out.note(line);
    }
    if pending > 0 {
        return Err(Fail::relay(format!(
            "{pending} own commit(s) are still pending: the relays have not confirmed them"
        )));
    }
    Ok(())
}

pub async fn listen(ctx: &mut Ctx, count: Option<usize>, timeout: Option<u64>) -> Result<(), Fail> {
    let mut d = ctx.connect().await?;
    let names = ctx.names(Some(d.client().public_key()));
    if !ctx.out.json {
        ctx.out.note("listening (Ctrl-C to stop)");
    }
    let mut seen = 0usize;
    let out = &mut ctx.out;
    let fut = d.listen(POLL_EVERY, |client, o| {
        if let Some((text, value)) = describe(client, &names, o) {
            out.emit(text, value);
        }
        if matches!(o, Outcome::Message { .. }) {
            seen += 1;
        }
        count.is_none_or(|c| seen < c)
    });
    match timeout {
        None => fut.await?,
        Some(s) => match tokio::time::timeout(Duration::from_secs(s), fut).await {
            Ok(r) => r?,
            Err(_) if count.is_some() => {
                return Err(Fail::relay(format!(
                    "timed out after {s} s before {} message(s) arrived",
                    count.unwrap_or_default()
                )));
            }
            Err(_) => {}
        },
    }
    Ok(())
}
